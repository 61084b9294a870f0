#!/usr/bin/env bash
# Drive the two YAM followers from the two leader arms with stock `lerobot-teleoperate` (Ctrl-C to stop).
# Squeeze a handle trigger to close that gripper. Calibrate first (examples/yam_calibrate.sh).
#   BACKEND=can ./examples/yam_teleoperate.sh
#   BACKEND=zmq SERVER_HOST=192.168.1.20 ./examples/yam_teleoperate.sh   (servers: examples/yam_server.sh)
#   BACKEND=sim TELEOP_TIME_S=5 ./examples/yam_teleoperate.sh           (no hardware)
set -euo pipefail
TELEOP_TIME_S=${TELEOP_TIME_S:-}   # empty = until Ctrl-C
source "$(dirname "$0")/yam_common.sh"

EXTRA=()
if [ -n "$TELEOP_TIME_S" ]; then EXTRA+=(--teleop_time_s="$TELEOP_TIME_S"); fi
lerobot-teleoperate \
  "${ROBOT_ARGS[@]}" \
  "${CAMERA_ARGS[@]}" \
  "${TELEOP_ARGS[@]}" \
  --fps="$FPS" \
  --display_data=false \
  "${EXTRA[@]}" \
  "$@"
