#!/usr/bin/env bash
# Calibrate the YAM follower arms and the leader arms with stock `lerobot-calibrate` (one device per call).
# Follow the prompts: the arms go limp; fold them into the rest pose (every joint at zero), close/open grippers.
# Calibration files land in LeRobot's calibration dir ($HF_LEROBOT_CALIBRATION) under ROBOT_ID / LEADER_ID.
#   BACKEND=can ./examples/yam_calibrate.sh      DEVICE=leader ./examples/yam_calibrate.sh
#   BACKEND=sim ./examples/yam_calibrate.sh      (writes the default calibration, no hardware)
set -euo pipefail
DEVICE=${DEVICE:-both}   # robot | leader | both
source "$(dirname "$0")/yam_common.sh"

if [ "$DEVICE" = robot ] || [ "$DEVICE" = both ]; then
  # No cameras are needed to calibrate the arms.
  lerobot-calibrate "${ROBOT_ARGS[@]}" --robot.cameras='{}' "$@"
fi
if [ "$DEVICE" = leader ] || [ "$DEVICE" = both ]; then
  lerobot-calibrate "${TELEOP_ARGS[@]}" "$@"
fi
