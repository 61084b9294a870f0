#!/usr/bin/env bash
# Evaluation on the YAM station with stock `lerobot-rollout --strategy.type=episodic`: the policy (pi06_recap,
# conditioned positive) drives every episode; between episodes the arms go back to their start pose while the scene
# is reset by hand. Keys are LeRobot's: right arrow / n ends an episode early, left arrow / r records it again,
# Esc / q stops. Compare with the stage-3 policy by running again with CKPT set to that checkpoint.
#   BACKEND=can TOP_SERIAL=... LEFT_WRIST_SERIAL=... RIGHT_WRIST_SERIAL=... ./examples/eval_robot.sh
#   BACKEND=sim CAMERAS=sim CAM_W=32 CAM_H=24 DEVICE=cpu NUM_EPISODES=1 EPISODE_TIME_S=3 ./examples/eval_robot.sh
# Success rate: write each episode's outcome to a JSON file ({"0": "success", "1": "failure", ...}). The episodes
# are autonomous RECAP data as well:
#   lerobot-recap-annotate --root="$ROOT" --outcomes=outcomes.json --intervention=all_autonomous
# In simulation: lerobot-eval --policy.path="$CKPT" --env.type=recap_handover --eval.n_episodes=100
set -euo pipefail
CKPT=${CKPT:-outputs/pi06_recap/checkpoints/last/pretrained_model}
NAME=${NAME:-rollout_yam_eval_recap}   # lerobot-rollout only records into names that start with rollout_
STAMP=${STAMP:-$(date +%Y%m%d_%H%M%S)}
REPO_ID=${REPO_ID:-local/${NAME}_${STAMP}}
ROOT=${ROOT:-$HOME/data/${NAME}_${STAMP}}
TASK=${TASK:-hand the cube over}
DEVICE=${DEVICE:-cuda}
NUM_EPISODES=${NUM_EPISODES:-20}
EPISODE_TIME_S=${EPISODE_TIME_S:-120}
RESET_TIME_S=${RESET_TIME_S:-60}
source "$(dirname "$0")/yam_common.sh"

lerobot-rollout \
  --strategy.type=episodic \
  --policy.path="$CKPT" \
  --device="$DEVICE" \
  "${ROBOT_ARGS[@]}" \
  "${CAMERA_ARGS[@]}" \
  --fps="$FPS" \
  --dataset.repo_id="$REPO_ID" \
  --dataset.no_stamp=true \
  --dataset.root="$ROOT" \
  --dataset.single_task="$TASK" \
  --dataset.fps="$FPS" \
  --dataset.num_episodes="$NUM_EPISODES" \
  --dataset.episode_time_s="$EPISODE_TIME_S" \
  --dataset.reset_time_s="$RESET_TIME_S" \
  --dataset.push_to_hub=false \
  "$@"
