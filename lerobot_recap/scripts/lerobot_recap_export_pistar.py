"""lerobot-recap-export-pistar: write an annotated LeRobot v3.0 dataset in the LeRobot v2.1 layout pistar/openpi read.

One parquet file and one mp4 per episode (``data/chunk-000/episode_000000.parquet``,
``videos/chunk-000/<video_key>/episode_000000.mp4``), ``meta/{info.json, episodes.jsonl, tasks.jsonl,
episodes_stats.jsonl}``, and the five RECAP columns under pistar's names with ``adv_ind`` as the strings
``positive``/``negative``/``none``. Episodes are renumbered 0..N-1 (v2.1 readers index them by position). The
export's root holds an empty ``.lerobot-recap-export`` marker: ``--overwrite=true`` replaces only such a folder (or an
empty one).

The source must be one annotation: rounds annotated separately and merged with ``lerobot-edit-dataset
--operation.type=merge`` (which drops ``meta/recap.json``) are refused with the constants that disagree; run
``lerobot-recap-annotate`` once on the merged dataset and export its output.

Videos: a v3.0 mp4 packs many episodes; each episode's segment is cut out by copying its packets (no
re-encoding) when it starts on a keyframe, as LeRobot writes them, and otherwise decoded and re-encoded with PyAV
(same codec family; lossy). ``--reencode_videos=true`` forces re-encoding. Image datasets keep their images in the
parquet files.

    lerobot-recap-export-pistar --root=~/data/yam_round1_recap --output_root=~/data/yam_round1_pistar

Back to v3.0 (e.g. after pistar relabelled ``adv_ind``): LeRobot's converter works in place on the folder given as
``--root``, so for an export at ``~/data/yam_round1_pistar`` run ``python -m lerobot.scripts.convert_dataset_v21_to_v30
--repo-id=local/yam_round1_pistar --root=~/data/yam_round1_pistar --push-to-hub=false`` (the v2.1 original is kept
as ``~/data/yam_round1_pistar_old``); ``lerobot-recap-annotate`` then reads the pistar columns (outcome: reward on
the last frame; intervention: the column).
"""

import logging

from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.data.pistar import ExportPistarConfig, export_pistar
from lerobot_recap.scripts.cli import run_cli


@parser.wrap()
def export(cfg: ExportPistarConfig) -> None:
    summary = export_pistar(cfg)
    logging.info(
        "exported %d episodes, %d frames -> %s (v2.1) | adv_ind %s | videos: %d cut by packet copy, %d re-encoded",
        summary.n_episodes,
        summary.n_frames,
        summary.output_root,
        summary.adv_ind_counts,
        summary.videos_copied,
        summary.videos_reencoded,
    )


def main() -> None:
    init_logging()
    run_cli(export, "lerobot-recap-export-pistar")


if __name__ == "__main__":
    main()
