#!/usr/bin/env bash
# On the GPU machine: serve a pi06_recap checkpoint with openpi's websocket protocol (port 8111, as pistar's and
# limb's YAM clients expect). openpi clients, limb's YAM client and this project's recap_remote policy connect to it.
#   CKPT=outputs/recap/checkpoints/last/pretrained_model LEROBOT_RECAP_API_KEY=<key> ./examples/serve_policy.sh
# Loopback only unless HOST is set; serving another machine needs a key (the client sends
# "Authorization: Api-Key <key>"). Health check: curl http://<host>:8111/healthz
set -euo pipefail
CKPT=${CKPT:?set CKPT to a pi06_recap checkpoint, e.g. outputs/recap/checkpoints/last/pretrained_model}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8111}
DEVICE=${DEVICE:-cuda}
TASK=${TASK:-hand the cube over}   # the prompt of clients that send none (limb's YAM client)
ADVANTAGE=${ADVANTAGE:-positive}   # the clause; a request's "advantage" (or pistar's "adv_ind") overrides it
CFG_BETA=${CFG_BETA:-1.0}          # classifier-free guidance weight, 1 = off; a request's "cfg_beta" overrides it

if [ "$HOST" != 127.0.0.1 ] && [ -z "${LEROBOT_RECAP_API_KEY:-}" ]; then
  echo "serving on $HOST: set LEROBOT_RECAP_API_KEY (and give the key to the robot side)" >&2
  exit 2
fi

lerobot-recap-serve \
  --policy.path="$CKPT" \
  --policy.device="$DEVICE" \
  --policy.inference_advantage="$ADVANTAGE" \
  --policy.cfg_beta="$CFG_BETA" \
  --host="$HOST" \
  --port="$PORT" \
  --observation.preset=yam_bimanual \
  --observation.default_prompt="$TASK" \
  "$@"
