#!/usr/bin/env bash
# Stage 3: fine-tune the stage-2 policy on all data with the recorded indicator (human frames positive,
# autonomous frames without a clause), as annotated in stage 1.
set -euo pipefail
SFT=${SFT:-outputs/pi06_sft/checkpoints/last/pretrained_model}
ANNOTATED=${ANNOTATED:-$HOME/data/yam_round1_recap}
OUT=${OUT:-outputs/pi06_stage3}
LAUNCH=${LAUNCH:-lerobot-train}

$LAUNCH \
  --policy.path="$SFT" \
  --policy.device=cuda \
  --policy.push_to_hub=false \
  --dataset.repo_id=local/$(basename "$ANNOTATED") \
  --dataset.root="$ANNOTATED" \
  --output_dir="$OUT" \
  --batch_size=32 \
  --steps=10000 \
  --save_freq=5000 \
  "$@"
