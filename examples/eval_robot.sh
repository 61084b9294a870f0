#!/usr/bin/env bash
# Evaluation on the robot: stock lerobot-record driven by the RECAP policy (conditioned positive), outcomes
# marked by the operator; compare against the stage-3 policy by running it with CKPT set to that checkpoint.
# In simulation: lerobot-eval --policy.path="$CKPT" --env.type=recap_handover --eval.n_episodes=100
set -euo pipefail
CKPT=${CKPT:-outputs/pi06_recap/checkpoints/last/pretrained_model}
ROOT=${ROOT:-$HOME/data/yam_eval_recap}

lerobot-record \
  --robot.type=yam_bimanual \
  --robot.backend=can \
  --policy.path="$CKPT" \
  --dataset.repo_id=local/$(basename "$ROOT") \
  --dataset.root="$ROOT" \
  --dataset.single_task="hand the cube over" \
  --dataset.num_episodes=20 \
  --dataset.episode_time_s=120 \
  --dataset.push_to_hub=false \
  "$@"
