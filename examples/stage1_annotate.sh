#!/usr/bin/env bash
# Stage 1: write the five RECAP columns into a new dataset root (the recording stays byte-for-byte unchanged).
# A DAgger round recorded with recap_dagger carries its outcomes and interventions: no flag is needed.
# A demonstration set with no recorded outcomes: add --all_success=true --intervention=all_human.
set -euo pipefail
RAW=${RAW:-$HOME/data/yam_dagger_round1}
ANNOTATED=${ANNOTATED:-$HOME/data/yam_round1_recap}

lerobot-recap-annotate --root="$RAW" --output_root="$ANNOTATED" "$@"
# Several rounds: merge the annotated rounds with LeRobot's own tool, then annotate the merge once (LeRobot's merge
# drops meta/recap.json and each round has its own constants; export and label refuse a merge not annotated again):
#   lerobot-edit-dataset --new_repo_id=local/yam_all --new_root="$HOME/data/yam_all" --operation.type=merge \
#     --operation.repo_ids="['local/yam_round1_recap','local/yam_round2_recap']" \
#     --operation.roots="['$HOME/data/yam_round1_recap','$HOME/data/yam_round2_recap']"
#   lerobot-recap-annotate --root="$HOME/data/yam_all" --output_root="$HOME/data/yam_all_recap"
