"""A pi06_recap checkpoint evaluated by stock ``lerobot-eval --env.type=recap_handover`` (subprocesses).

Tiny training on data recorded by ``lerobot-recap-generate``'s API and annotated, then two 15-step episodes in the
embedded hand-over env, unguided and with classifier-free guidance (``--policy.cfg_beta=1.5``). The prompts the
policy conditions on are rebuilt in-process exactly as lerobot-eval builds them (env -> env processors -> the
checkpoint's pre-processor), because the subprocess does not print them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import cli_env, venv_script

EVAL_SEED = 1000  # lerobot-eval's default seed: episode i runs the env seeded 1000 + i


def _run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{Path(args[0]).name} failed:\n{output[-5000:]}"
    return output


@pytest.fixture(scope="module")
def handover_checkpoint(tmp_path_factory) -> Path:
    """A 2-step tiny pi06_recap checkpoint trained by stock lerobot-train on generated + annotated hand-over data."""
    from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
    from lerobot_recap.envs.generate import GenerateConfig, generate_dataset

    base = tmp_path_factory.mktemp("pi06_eval")
    source, annotated = base / "generated", base / "annotated"
    generate_dataset(
        GenerateConfig(output_dir=source, n_demos=2, n_autonomous=1, n_corrected=1, seed=3, episode_length=30),
        progress=False,
    )
    annotate_dataset(AnnotateConfig(root=source, output_root=annotated), progress=False)
    log = _run(
        [
            venv_script("lerobot-train"),
            "--dataset.repo_id=local/recap_handover",
            f"--dataset.root={annotated}",
            "--policy.type=pi06_recap",
            "--policy.size=tiny",
            "--policy.device=cpu",
            "--policy.push_to_hub=false",
            "--batch_size=2",
            "--steps=2",
            "--save_freq=2",
            "--log_freq=1",
            "--num_workers=0",
            "--wandb.enable=false",
            f"--output_dir={base / 'train'}",
        ],
        cwd=base,
    )
    assert "step:2" in log and "no adv_ind labels" not in log  # trained with clauses from the annotated labels
    return base / "train" / "checkpoints" / "last" / "pretrained_model"


def _eval(checkpoint: Path, out: Path, *extra: str) -> tuple[dict, str]:
    log = _run(
        [
            venv_script("lerobot-eval"),
            f"--policy.path={checkpoint}",
            "--policy.device=cpu",
            *extra,
            "--env.type=recap_handover",
            "--env.episode_length=15",
            "--eval.n_episodes=2",
            "--eval.batch_size=2",
            f"--seed={EVAL_SEED}",
            f"--output_dir={out}",
        ],
        cwd=out.parent,
    )
    return json.loads((out / "eval_info.json").read_text()), log


def _assert_two_episodes(info: dict) -> None:
    task = info["per_task"][0]
    assert task["task_group"] == "recap_handover"
    metrics = task["metrics"]
    for key in ("sum_rewards", "max_rewards", "successes", "video_paths"):
        assert len(metrics[key]) == 2, (key, metrics[key])
    assert info["overall"]["n_episodes"] == 2
    assert info["overall"]["pc_success"] == pytest.approx(100.0 * sum(metrics["successes"]) / 2)
    assert all(Path(p).is_file() for p in metrics["video_paths"])


def _eval_prompts(checkpoint: Path, **overrides) -> tuple[list[str], list[str] | None]:
    """The (conditional, unconditional) prompts of the first eval step, built as lerobot-eval builds them."""
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.envs.factory import make_env, make_env_pre_post_processors
    from lerobot.envs.utils import preprocess_observation
    from lerobot.policies.factory import make_policy, make_pre_post_processors

    from lerobot_recap.envs.configs import RecapHandoverEnv

    env_cfg = RecapHandoverEnv(episode_length=15)
    overrides_cli = [f"--{k}={v}" for k, v in overrides.items()]
    policy_cfg = PreTrainedConfig.from_pretrained(checkpoint, cli_overrides=overrides_cli)
    policy_cfg.pretrained_path = checkpoint
    policy = make_policy(cfg=policy_cfg, env_cfg=env_cfg)
    preprocessor, _ = make_pre_post_processors(policy_cfg=policy_cfg, pretrained_path=str(checkpoint))
    env_preprocessor, _ = make_env_pre_post_processors(env_cfg=env_cfg, policy_cfg=policy_cfg)
    env = make_env(env_cfg, n_envs=1)["recap_handover"][0]
    try:
        observation, _ = env.reset(seed=[EVAL_SEED])
        observation = preprocess_observation(observation)
        observation["task"] = list(env.call("task_description"))  # as lerobot-eval's rollout does
        observation = preprocessor(env_preprocessor(observation))
        return policy.inference_prompts(observation)
    finally:
        env.close()


@pytest.mark.slow
def test_lerobot_eval_runs_the_positive_conditioned_policy(handover_checkpoint, tmp_path):
    saved = json.loads((handover_checkpoint / "config.json").read_text())
    assert saved["type"] == "pi06_recap" and saved["inference_advantage"] == "positive" and saved["cfg_beta"] == 1.0

    info, log = _eval(handover_checkpoint, tmp_path / "eval")
    _assert_two_episodes(info)
    assert "'inference_advantage': 'positive'" in log  # lerobot-eval prints the policy config it ran

    cond, uncond = _eval_prompts(handover_checkpoint)
    assert uncond is None  # no guidance: one prompt per env
    assert len(cond) == 1 and cond[0].startswith("Task: hand the cube")
    assert cond[0].endswith(", Advantage: positive;\nAction: "), cond[0]


@pytest.mark.slow
def test_lerobot_eval_with_classifier_free_guidance(handover_checkpoint, tmp_path):
    info, log = _eval(handover_checkpoint, tmp_path / "eval_cfg", "--policy.cfg_beta=1.5")
    _assert_two_episodes(info)
    assert "'cfg_beta': 1.5" in log and "'inference_advantage': 'positive'" in log

    # Guided sampling pairs every conditional prompt with the same prompt without the clause.
    cond, uncond = _eval_prompts(handover_checkpoint, cfg_beta=1.5)
    assert cond[0].endswith(", Advantage: positive;\nAction: ")
    assert uncond is not None and uncond[0] == cond[0].replace(", Advantage: positive", "")
    assert "Advantage" not in uncond[0]
