"""lerobot-recap-annotate: stage 1 of RECAP — write the five RECAP columns into a new copy of a dataset.

Example (a DAgger round recorded with recap_dagger; outcomes and interventions come from the recording):

    lerobot-recap-annotate --repo_id=me/yam_round1 --output_root=~/data/yam_round1_recap

A demonstration set with no recorded outcomes:

    lerobot-recap-annotate --root=~/data/demos --all_success=true --intervention=all_human
"""

import logging

from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.scripts.cli import run_cli


@parser.wrap()
def annotate(cfg: AnnotateConfig) -> None:
    summary = annotate_dataset(cfg)
    logging.info(
        "annotated %d frames -> %s | outcomes %s | sources %s | human frames %.1f%%",
        summary.n_frames,
        summary.output_root,
        summary.outcomes,
        summary.sources,
        100 * summary.human_fraction,
    )
    for task_index, constants in summary.tasks.items():
        logging.info("task %d %r: L=%d C_fail=%.1f", task_index, constants["task"], constants["norm_length"], constants["c_fail"])


def main() -> None:
    init_logging()
    run_cli(annotate, "lerobot-recap-annotate")


if __name__ == "__main__":
    main()
