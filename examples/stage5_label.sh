#!/usr/bin/env bash
# Stage 5: relabel adv_ind from the value model into a new dataset root (30% of autonomous frames positive per
# task, human frames positive), with plots beside it. Several GPUs: NPROC=4.
set -euo pipefail
ANNOTATED=${ANNOTATED:-$HOME/data/yam_round1_recap}
LABELED=${LABELED:-$HOME/data/yam_round1_labeled}
VALUE=${VALUE:-outputs/value}
NPROC=${NPROC:-1}

if [ "$NPROC" -gt 1 ]; then
  torchrun --nproc_per_node="$NPROC" -m lerobot_recap.scripts.lerobot_recap_label \
    --root="$ANNOTATED" --value_path="$VALUE" --output_root="$LABELED" --device=cuda --num_workers=8 "$@"
else
  lerobot-recap-label --root="$ANNOTATED" --value_path="$VALUE" --output_root="$LABELED" \
    --device=cuda --num_workers=8 "$@"
fi
