"""lerobot-recap-collect: stage 0 in simulation - the policy drives the hand-over task, a scripted operator corrects.

Example (a round of DAgger rollouts of an SFT checkpoint, 8 envs stepped together):

    lerobot-recap-collect --policy.path=outputs/sft/checkpoints/last/pretrained_model --policy.device=cpu \
        --n_episodes=200 --batch_size=8 --output_dir=outputs/round1

The dataset has the layout of a recap_dagger recording made inside lerobot-record; lerobot-recap-annotate takes it
as it is. See lerobot_recap/envs/collect.py.
"""

from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.envs.collect import CollectConfig, collect
from lerobot_recap.scripts.cli import run_cli


@parser.wrap()
def collect_cli(cfg: CollectConfig) -> None:
    collect(cfg)


def main() -> None:
    init_logging()
    run_cli(collect_cli, "lerobot-recap-collect")


if __name__ == "__main__":
    main()
