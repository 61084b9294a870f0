#!/usr/bin/env bash
# Record teleoperated YAM episodes into a LeRobot dataset with stock `lerobot-record` (14-D state/action, three
# cameras at 30 fps). Keys: right arrow = end episode, left arrow = re-record, Esc = stop. Calibrate first.
#   BACKEND=can TOP_SERIAL=... LEFT_WRIST_SERIAL=... RIGHT_WRIST_SERIAL=... ./examples/yam_record.sh
#   BACKEND=sim NUM_EPISODES=1 EPISODE_TIME_S=3 ./examples/yam_record.sh   (no hardware)
set -euo pipefail
REPO_ID=${REPO_ID:-local/yam_demos}
ROOT=${ROOT:-$HOME/data/yam_demos}
TASK=${TASK:-hand the cube over}
NUM_EPISODES=${NUM_EPISODES:-10}
EPISODE_TIME_S=${EPISODE_TIME_S:-60}
RESET_TIME_S=${RESET_TIME_S:-20}
source "$(dirname "$0")/yam_common.sh"

lerobot-record \
  "${ROBOT_ARGS[@]}" \
  "${CAMERA_ARGS[@]}" \
  "${TELEOP_ARGS[@]}" \
  --dataset.repo_id="$REPO_ID" \
  --dataset.root="$ROOT" \
  --dataset.single_task="$TASK" \
  --dataset.fps="$FPS" \
  --dataset.num_episodes="$NUM_EPISODES" \
  --dataset.episode_time_s="$EPISODE_TIME_S" \
  --dataset.reset_time_s="$RESET_TIME_S" \
  --dataset.push_to_hub=false \
  --display_data=false \
  "$@"
