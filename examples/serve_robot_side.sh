#!/usr/bin/env bash
# On the robot machine, with the policy served by examples/serve_policy.sh on SERVER (ws://<gpu-box>:8111):
#   MODE=stage0 SERVER=ws://gpu-box:8111 ./examples/serve_robot_side.sh   # DAgger: recap_dagger in lerobot-record
#   MODE=eval   SERVER=ws://gpu-box:8111 ./examples/serve_robot_side.sh   # evaluation: lerobot-rollout, episodic
#   BACKEND=sim CAMERAS=sim ... runs it without hardware (simulated YAM arms, leaders and cameras).
# The API key is read from LEROBOT_RECAP_API_KEY (never written to disk). Extra arguments go to the LeRobot command.
set -euo pipefail
SERVER=${SERVER:?set SERVER to the policy server, e.g. ws://gpu-box:8111}
MODE=${MODE:-stage0}
NAME=${NAME:-yam_remote}
STAMP=${STAMP:-$(date +%Y%m%d_%H%M%S)}
TASK=${TASK:-hand the cube over}
NUM_EPISODES=${NUM_EPISODES:-20}
EPISODE_TIME_S=${EPISODE_TIME_S:-120}
RESET_TIME_S=${RESET_TIME_S:-60}
PEDAL=${PEDAL:-/dev/input/by-id/usb-PCsensor_FootSwitch-event-kbd}
source "$(dirname "$0")/yam_common.sh"

case "$MODE" in
  stage0)
    # recap_dagger takes a policy folder: a recap_remote one (config and processors, no weights) names the server.
    POLICY_DIR=${POLICY_DIR:-outputs/remote_policy_${STAMP}}
    lerobot-recap-remote-policy --server="$SERVER" --output_dir="$POLICY_DIR"
    # recap_observed wraps the robot: its flags are --robot.robot.* (yam_common.sh builds --robot.*).
    lerobot-record \
      --robot.type=recap_observed \
      "${ROBOT_ARGS[@]/--robot./--robot.robot.}" \
      "${CAMERA_ARGS[@]/--robot./--robot.robot.}" \
      --teleop.type=recap_dagger \
      --teleop.policy_path="$POLICY_DIR" \
      "${TELEOP_ARGS[@]/--teleop./--teleop.leader.}" \
      --teleop.pedal.device_path="$PEDAL" \
      --dataset.repo_id="local/${NAME}_dagger_${STAMP}" \
      --dataset.root="${ROOT:-$HOME/data/${NAME}_dagger_${STAMP}}" \
      --dataset.single_task="$TASK" \
      --dataset.fps="$FPS" \
      --dataset.episode_time_s="$EPISODE_TIME_S" \
      --dataset.reset_time_s="$RESET_TIME_S" \
      --dataset.num_episodes="$NUM_EPISODES" \
      --dataset.push_to_hub=false \
      "$@"
    ;;
  eval)
    lerobot-rollout \
      --strategy.type=episodic \
      --policy.type=recap_remote \
      --policy.server="$SERVER" \
      "${ROBOT_ARGS[@]}" \
      "${CAMERA_ARGS[@]}" \
      --fps="$FPS" \
      --dataset.repo_id="local/rollout_${NAME}_eval_${STAMP}" \
      --dataset.no_stamp=true \
      --dataset.root="${ROOT:-$HOME/data/rollout_${NAME}_eval_${STAMP}}" \
      --dataset.single_task="$TASK" \
      --dataset.fps="$FPS" \
      --dataset.num_episodes="$NUM_EPISODES" \
      --dataset.episode_time_s="$EPISODE_TIME_S" \
      --dataset.reset_time_s="$RESET_TIME_S" \
      --dataset.push_to_hub=false \
      "$@"
    ;;
  *)
    echo "MODE=$MODE: use stage0 or eval" >&2
    exit 2
    ;;
esac
