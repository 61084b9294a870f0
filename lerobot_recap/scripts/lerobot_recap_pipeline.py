"""lerobot-recap-pipeline: every RECAP stage through the stock entry points, with a live stage table and a report.

    lerobot-recap-pipeline                       # the embedded default: a simulated task, tiny models, CPU
    lerobot-recap-pipeline --full=true           # 3 training seeds of each fine-tune, 100 episodes per seed
    lerobot-recap-pipeline --dataset_root=<raw dataset> --policy_size=full --policy_base_model=lerobot/pi05_base ...

The stages, the resume rules and the report are in :mod:`lerobot_recap.pipeline.runner`.
"""

import logging

from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.pipeline.runner import PipelineConfig, run_pipeline
from lerobot_recap.scripts.cli import run_cli


@parser.wrap()
def pipeline(cfg: PipelineConfig) -> dict:
    summary = run_pipeline(cfg)
    logging.info("report written to %s", cfg.output_dir / "report.md")
    return summary


def main() -> None:
    init_logging()
    run_cli(pipeline, "lerobot-recap-pipeline")


if __name__ == "__main__":
    main()
