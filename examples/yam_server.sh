#!/usr/bin/env bash
# Run on the machine the four CAN adapters are plugged into: one lerobot-recap-yam-server per arm (one owner
# process per CAN interface), followers held under PD, leaders floating with gravity compensation. Then run the
# other examples with BACKEND=zmq SERVER_HOST=<this machine>. Ctrl-C stops all four.
#   ./examples/yam_server.sh                          (loopback only)
#   BIND=0.0.0.0 ./examples/yam_server.sh              (trusted robot network only: no authentication)
#   SERVER_BACKEND=sim ./examples/yam_server.sh        (simulated arms, no hardware)
#   ROBOT_CALIBRATION=~/.cache/huggingface/lerobot/calibration/robots/yam_bimanual/yam_station.json \
#   LEADER_CALIBRATION=~/.cache/huggingface/lerobot/calibration/teleoperators/yam_bimanual_leader/yam_leaders.json \
#     ./examples/yam_server.sh                         (gravity model through the calibrated joint zero)
set -euo pipefail
SERVER_BACKEND=${SERVER_BACKEND:-can}   # can | sim
BIND=${BIND:-127.0.0.1}
ENCODING=${ENCODING:-msgpack}
ROBOT_CALIBRATION=${ROBOT_CALIBRATION:-}
LEADER_CALIBRATION=${LEADER_CALIBRATION:-}
source "$(dirname "$0")/yam_common.sh"

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop_all EXIT INT TERM

serve() {  # arm-kind channel port calibration-file prefix
  local args=(--backend="$SERVER_BACKEND" --arm="$1" --channel="$2" --port="$3" --host="$BIND" --encoding="$ENCODING")
  if [ -n "$4" ]; then args+=(--calibration_file="$4" --calibration_prefix="$5"); fi
  lerobot-recap-yam-server "${args[@]}" &
  pids+=($!)
}
serve follower "$FOLLOWER_L" "$FOLLOWER_L_PORT" "$ROBOT_CALIBRATION" left_
serve follower "$FOLLOWER_R" "$FOLLOWER_R_PORT" "$ROBOT_CALIBRATION" right_
serve leader "$LEADER_L" "$LEADER_L_PORT" "$LEADER_CALIBRATION" left_
serve leader "$LEADER_R" "$LEADER_R_PORT" "$LEADER_CALIBRATION" right_
echo "Serving 4 arms ($SERVER_BACKEND) on $BIND ports $FOLLOWER_L_PORT $FOLLOWER_R_PORT $LEADER_L_PORT $LEADER_R_PORT; Ctrl-C stops."
# Any server exiting (a fault at startup, a missing CAN interface) stops the others.
wait -n
