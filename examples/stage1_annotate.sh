#!/usr/bin/env bash
# Stage 1: write the five RECAP columns into a new dataset root (the recording stays byte-for-byte unchanged).
# A DAgger round recorded with recap_dagger carries its outcomes and interventions: no flag is needed.
# A demonstration set with no recorded outcomes: add --all_success=true --intervention=all_human.
set -euo pipefail
RAW=${RAW:-$HOME/data/yam_dagger_round1}
ANNOTATED=${ANNOTATED:-$HOME/data/yam_round1_recap}

lerobot-recap-annotate --root="$RAW" --output_root="$ANNOTATED" "$@"
# Several rounds: merge annotated datasets with LeRobot's own tool, e.g.
#   lerobot-edit-dataset --repo_id=local/yam_all --operation.type=merge \
#     --operation.repo_ids="['local/yam_round1_recap','local/yam_round2_recap']"
