#!/usr/bin/env bash
# Stage 2: supervised fine-tuning of pi06_recap from LeRobot's pi0.5 base weights on the demonstrations.
# Full size, bf16 with gradient checkpointing; one 24 GB GPU: add LoRA (PEFT=1).
# Several GPUs: LAUNCH="accelerate launch --multi_gpu --num_processes=4 -m lerobot.scripts.lerobot_train".
set -euo pipefail
ANNOTATED=${ANNOTATED:-$HOME/data/yam_round1_recap}
OUT=${OUT:-outputs/pi06_sft}
DEMOS=${DEMOS:-}              # episode indices of the demonstrations, e.g. "[0,1,2,3]" (empty: every episode)
LAUNCH=${LAUNCH:-lerobot-train}
PEFT=${PEFT:-0}
REPO_ID=${REPO_ID:-}          # set to push the checkpoint to the Hub, e.g. me/pi06_yam_sft

args=(
  --policy.type=pi06_recap
  --policy.base_model=lerobot/pi05_base
  --policy.dtype=bfloat16
  --policy.gradient_checkpointing=true
  --policy.delta_actions=true
  --policy.device=cuda
  --dataset.repo_id=local/$(basename "$ANNOTATED")
  --dataset.root="$ANNOTATED"
  --output_dir="$OUT"
  --batch_size=32
  --steps=20000
  --save_freq=5000
)
[ -n "$DEMOS" ] && args+=(--dataset.episodes="$DEMOS")
[ "$PEFT" = 1 ] && args+=(--peft.method_type=LORA --peft.r=16)
if [ -n "$REPO_ID" ]; then args+=(--policy.push_to_hub=true --policy.repo_id="$REPO_ID"); else args+=(--policy.push_to_hub=false); fi
$LAUNCH "${args[@]}" "$@"
