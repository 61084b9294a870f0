#!/usr/bin/env bash
# Stage 4: train the distributional value model (SigLIP so400m + Gemma3-270M, 201 bins on [-1, 0]).
# The backbones are gated on the Hub: accept the Gemma licence and `huggingface-cli login` first.
set -euo pipefail
ANNOTATED=${ANNOTATED:-$HOME/data/yam_round1_recap}
OUT=${OUT:-outputs/value}
LAUNCH=${LAUNCH:-lerobot-train}

$LAUNCH \
  --policy.type=recap_value \
  --policy.device=cuda \
  --policy.push_to_hub=false \
  --policy.val_fraction=0.1 \
  --dataset.repo_id=local/$(basename "$ANNOTATED") \
  --dataset.root="$ANNOTATED" \
  --output_dir="$OUT" \
  --batch_size=64 \
  --steps=10000 \
  --save_freq=5000 \
  "$@"
