#!/usr/bin/env bash
# Stage 6 (full RECAP): fine-tune the stage-2 policy on the relabeled data; at inference it is conditioned on
# "Advantage: positive" (optionally with classifier-free guidance: --policy.cfg_beta=1.5).
set -euo pipefail
SFT=${SFT:-outputs/pi06_sft/checkpoints/last/pretrained_model}
LABELED=${LABELED:-$HOME/data/yam_round1_labeled}
OUT=${OUT:-outputs/pi06_recap}
LAUNCH=${LAUNCH:-lerobot-train}
REPO_ID=${REPO_ID:-}

args=(
  --policy.path="$SFT"
  --policy.device=cuda
  --dataset.repo_id=local/$(basename "$LABELED")
  --dataset.root="$LABELED"
  --output_dir="$OUT"
  --batch_size=32
  --steps=10000
  --save_freq=5000
)
if [ -n "$REPO_ID" ]; then args+=(--policy.push_to_hub=true --policy.repo_id="$REPO_ID"); else args+=(--policy.push_to_hub=false); fi
$LAUNCH "${args[@]}" "$@"
