#!/usr/bin/env bash
# Shared settings of the yam_*.sh examples (sourced by them; override any variable from the environment).
#   BACKEND=can  each arm on its own CAN interface of this machine (udev names below)
#   BACKEND=zmq  arms served by lerobot-recap-yam-server (examples/yam_server.sh) on SERVER_HOST
#   BACKEND=sim  simulated arms, leaders and cameras: runs anywhere, no hardware
BACKEND=${BACKEND:-can}
ROBOT_ID=${ROBOT_ID:-yam_station}
LEADER_ID=${LEADER_ID:-yam_leaders}
FPS=${FPS:-30}

# CAN interfaces (`can` backend), named by udev rules (see i2rt's set-persistent-can-ids guide).
FOLLOWER_L=${FOLLOWER_L:-can_follower_l}
FOLLOWER_R=${FOLLOWER_R:-can_follower_r}
LEADER_L=${LEADER_L:-can_leader_l}
LEADER_R=${LEADER_R:-can_leader_r}

# Arm servers (`zmq` backend): each takes commands on PORT and publishes state on PORT+1.
SERVER_HOST=${SERVER_HOST:-127.0.0.1}
FOLLOWER_L_PORT=${FOLLOWER_L_PORT:-6001}
FOLLOWER_R_PORT=${FOLLOWER_R_PORT:-6011}
LEADER_L_PORT=${LEADER_L_PORT:-6021}
LEADER_R_PORT=${LEADER_R_PORT:-6031}

# RealSense serial numbers: list them with `lerobot-find-cameras realsense`.
TOP_SERIAL=${TOP_SERIAL:-SET_TOP_SERIAL}
LEFT_WRIST_SERIAL=${LEFT_WRIST_SERIAL:-SET_LEFT_WRIST_SERIAL}
RIGHT_WRIST_SERIAL=${RIGHT_WRIST_SERIAL:-SET_RIGHT_WRIST_SERIAL}
CAM_W=${CAM_W:-640}
CAM_H=${CAM_H:-480}
CAMERAS=${CAMERAS:-realsense}   # realsense | sim (synthetic `recap_sim` frames, e.g. to try the zmq path)

case "$BACKEND" in
  can)
    ROBOT_ARGS=(--robot.backend=can --robot.left_arm.channel="$FOLLOWER_L" --robot.right_arm.channel="$FOLLOWER_R")
    TELEOP_ARGS=(--teleop.backend=can --teleop.left_arm.channel="$LEADER_L" --teleop.right_arm.channel="$LEADER_R")
    ;;
  zmq)
    ROBOT_ARGS=(--robot.backend=zmq
      --robot.left_arm.host="$SERVER_HOST" --robot.left_arm.port="$FOLLOWER_L_PORT"
      --robot.right_arm.host="$SERVER_HOST" --robot.right_arm.port="$FOLLOWER_R_PORT")
    TELEOP_ARGS=(--teleop.backend=zmq
      --teleop.left_arm.host="$SERVER_HOST" --teleop.left_arm.port="$LEADER_L_PORT"
      --teleop.right_arm.host="$SERVER_HOST" --teleop.right_arm.port="$LEADER_R_PORT")
    ;;
  sim)
    ROBOT_ARGS=(--robot.backend=sim)
    TELEOP_ARGS=(--teleop.backend=sim)
    ;;
  *)
    echo "BACKEND=$BACKEND: use can, zmq or sim" >&2
    exit 2
    ;;
esac
ROBOT_ARGS=(--robot.type=yam_bimanual --robot.id="$ROBOT_ID" "${ROBOT_ARGS[@]}")
TELEOP_ARGS=(--teleop.type=yam_bimanual_leader --teleop.id="$LEADER_ID" "${TELEOP_ARGS[@]}")

# Three RealSense cameras by serial. The sim backend replaces unset RealSense cameras with synthetic ones.
if [ "$CAMERAS" = sim ]; then
  simcam() { echo "{type: recap_sim, width: $CAM_W, height: $CAM_H, fps: $FPS, seed: $1}"; }
  CAMERA_ARGS=(--robot.cameras="{top: $(simcam 0), left_wrist: $(simcam 1), right_wrist: $(simcam 2)}")
elif [ "$BACKEND" = sim ]; then
  CAMERA_ARGS=()
else
  realsense() { echo "{type: intelrealsense, serial_number_or_name: \"$1\", width: $CAM_W, height: $CAM_H, fps: $FPS}"; }
  CAMERA_ARGS=(--robot.cameras="{top: $(realsense "$TOP_SERIAL"), left_wrist: $(realsense "$LEFT_WRIST_SERIAL"), right_wrist: $(realsense "$RIGHT_WRIST_SERIAL")}")
fi
