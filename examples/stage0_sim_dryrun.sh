#!/usr/bin/env bash
# Dry run of stage 0 with no hardware: the simulated YAM backend and leader, no pedal (keys p = pause/resume,
# c = correction toggle, s/f/d/space/q as usual). Run it in a terminal.
set -euo pipefail
CKPT=${CKPT:?set CKPT to a policy checkpoint for yam_bimanual}
ROOT=${ROOT:-/tmp/yam_dagger_dryrun}

lerobot-record \
  --robot.type=recap_observed \
  --robot.robot.type=yam_bimanual \
  --robot.robot.backend=sim \
  --teleop.type=recap_dagger \
  --teleop.policy_path="$CKPT" \
  --teleop.leader.type=yam_bimanual_leader \
  --teleop.leader.backend=sim \
  --teleop.use_pedal=false \
  --teleop.keyboard=tty \
  --dataset.repo_id=local/yam_dagger_dryrun \
  --dataset.no_stamp=true \
  --dataset.root="$ROOT" \
  --dataset.single_task="hand the cube over" \
  --dataset.num_episodes=2 \
  --dataset.episode_time_s=60 \
  --dataset.reset_time_s=10 \
  --dataset.video=false \
  --dataset.push_to_hub=false \
  "$@"
