#!/usr/bin/env bash
# Stage 0 on two YAM arms: the policy drives, the right pedal (hold) hands the followers to the leader arms,
# the left pedal pauses/resumes the policy; keys in this terminal end episodes (works over `ssh -t`):
#   [s] success  [f] failure  [d] discard  [space] start next episode  [q] quit  [p]/[c] pedal fallbacks
#   LeRobot's own keys work too: [n]/right arrow ends an episode with no outcome (--teleop.timeout_outcome),
#   [r]/left arrow discards, Esc quits.
# Outcomes land in <root>/meta/recap.json; then: lerobot-recap-annotate --root=<root>
set -euo pipefail
CKPT=${CKPT:?set CKPT to a policy checkpoint, e.g. outputs/train/pi06/checkpoints/last/pretrained_model}
ROOT=${ROOT:-$HOME/data/yam_dagger_round1}
PEDAL=${PEDAL:-/dev/input/by-id/usb-PCsensor_FootSwitch-event-kbd}

lerobot-record \
  --robot.type=recap_observed \
  --robot.robot.type=yam_bimanual \
  --robot.robot.backend=can \
  --robot.robot.cameras='{top: {type: intelrealsense, serial_number_or_name: "TOP_SERIAL", width: 640, height: 480, fps: 30}, left_wrist: {type: intelrealsense, serial_number_or_name: "LEFT_SERIAL", width: 640, height: 480, fps: 30}, right_wrist: {type: intelrealsense, serial_number_or_name: "RIGHT_SERIAL", width: 640, height: 480, fps: 30}}' \
  --teleop.type=recap_dagger \
  --teleop.policy_path="$CKPT" \
  --teleop.device=cuda \
  --teleop.leader.type=yam_bimanual_leader \
  --teleop.leader.backend=can \
  --teleop.pedal.device_path="$PEDAL" \
  --dataset.repo_id=local/yam_dagger_round1 \
  --dataset.no_stamp=true \
  --dataset.root="$ROOT" \
  --dataset.single_task="hand the cube over" \
  --dataset.fps=30 \
  --dataset.episode_time_s=120 \
  --dataset.reset_time_s=60 \
  --dataset.num_episodes=20 \
  --dataset.push_to_hub=false \
  "$@"
