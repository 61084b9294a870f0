#!/usr/bin/env bash
# Stage 0 on an SO-101 follower with its SO-101 leader: same pedal and keys as stage0_yam.sh.
# Any LeRobot robot works the same way: wrap it with --robot.type=recap_observed --robot.robot.type=<robot>.
set -euo pipefail
CKPT=${CKPT:?set CKPT to a policy checkpoint trained on this robot}
ROOT=${ROOT:-$HOME/data/so101_dagger_round1}

lerobot-record \
  --robot.type=recap_observed \
  --robot.robot.type=so101_follower \
  --robot.robot.port=/dev/ttyACM0 \
  --robot.robot.id=my_follower \
  --robot.robot.cameras='{front: {type: opencv, index_or_path: 0, width: 640, height: 480, fps: 30}}' \
  --teleop.type=recap_dagger \
  --teleop.policy_path="$CKPT" \
  --teleop.leader.type=so101_leader \
  --teleop.leader.port=/dev/ttyACM1 \
  --teleop.leader.id=my_leader \
  --teleop.pedal.usb_id=3553:b001 \
  --dataset.repo_id=local/so101_dagger_round1 \
  --dataset.no_stamp=true \
  --dataset.root="$ROOT" \
  --dataset.single_task="put the cube in the bowl" \
  --dataset.num_episodes=20 \
  --dataset.push_to_hub=false \
  "$@"
