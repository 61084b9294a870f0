"""``lerobot-recap-collect``: stage 0 in simulation with a real (tiny, untrained) pi06_recap checkpoint.

An untrained policy errs from the first steps, so the scripted operator takes over in every episode and the
recording holds both policy and operator frames. The checkpoint is built once per session (seconds).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BIN = Path(sys.executable).parent
IMAGE = 32


def build_tiny_handover_checkpoint(out: Path, image_size: int = IMAGE) -> Path:
    """A randomly initialised tiny ``pi06_recap`` for the hand-over task (14 joints, the ``top`` camera)."""
    from tests.tiny_pi06 import build_tiny_pi06_checkpoint

    return build_tiny_pi06_checkpoint(out, 14, {"top": (image_size, image_size, 3)}, device="cpu")


@pytest.fixture(scope="session")
def handover_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_handover_checkpoint(tmp_path_factory.mktemp("ckpt") / "pretrained_model")


def _config(checkpoint: Path, output_dir: Path, **overrides):
    from lerobot.configs.policies import PreTrainedConfig

    from lerobot_recap.envs.collect import CollectConfig

    cfg = CollectConfig(output_dir=output_dir, image_size=IMAGE, torch_threads=1, **overrides)
    cfg.policy = PreTrainedConfig.from_pretrained(checkpoint)
    cfg.policy.pretrained_path = checkpoint
    cfg.policy.device = "cpu"
    return cfg


@pytest.fixture(scope="module")
def collected(handover_checkpoint, tmp_path_factory):
    """4 episodes, 2 envs stepped together, the operator correcting the untrained policy."""
    from lerobot_recap.envs.collect import collect_dataset

    root = tmp_path_factory.mktemp("collect") / "round"
    results = collect_dataset(
        _config(handover_checkpoint, root, n_episodes=4, batch_size=2, episode_length=60),
        progress=False,
    )
    return root, results


def _frames(root: Path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("local/recap_handover_collect", root=root)
    table = dataset.hf_dataset.with_format("numpy")
    return dataset, np.stack(table["action"]), np.asarray(table["episode_index"])


def test_dataset_has_recap_dagger_layout(collected):
    from lerobot_recap.envs.configs import RecapHandoverEnv
    from lerobot_recap.envs.handover import JOINT_NAMES
    from lerobot_recap.teleoperators.recap_dagger.hub import recap_action_dims

    root, results = collected
    dataset, action, _ = _frames(root)
    assert dataset.num_episodes == 4 and len(results) == 4
    names = dataset.features["action"]["names"]
    assert names == list(JOINT_NAMES) + recap_action_dims(list(JOINT_NAMES), True)
    # The keys lerobot-eval --env.type=recap_handover feeds a policy (before the recap.* dims are stripped).
    env = RecapHandoverEnv(image_size=IMAGE)
    for key in env.features_map.values():
        assert key in dataset.features, key
    assert tuple(dataset.features["observation.images.top"]["shape"]) == (
        IMAGE,
        IMAGE,
        3,
    )
    frame = dataset[0]
    assert frame["observation.images.top"].shape == (3, IMAGE, IMAGE)
    flag = action[:, names.index("recap.intervention")]
    phase = action[:, names.index("recap.phase")]
    assert set(np.unique(flag)) == {
        0.0,
        1.0,
    }  # the untrained policy errs: the operator took over
    np.testing.assert_array_equal(flag, (phase == 2).astype(np.float32))
    assert set(np.unique(phase)) <= {
        1.0,
        2.0,
    }  # every recorded frame is driven (AUTONOMOUS or CORRECTING)
    assert np.all(action[:, names.index("recap.policy_valid")] == 1.0)  # the policy runs in shadow too
    # Autonomous frames execute the policy's action; corrected frames the expert's (the policy's kept beside it).
    policy = action[:, [names.index(f"recap.policy.{n}") for n in JOINT_NAMES]]
    auto = flag == 0
    np.testing.assert_allclose(action[auto, :14], policy[auto], atol=1e-6)
    assert not np.allclose(action[~auto, :14], policy[~auto])


def test_outcomes_and_sources_recorded_for_every_episode(collected):
    from lerobot_recap.data.contract import Outcome, source_from_intervention
    from lerobot_recap.data.metadata import load_recap_metadata

    root, results = collected
    _, action, episode = _frames(root)
    meta = load_recap_metadata(root)
    assert sorted(meta.episodes) == [0, 1, 2, 3]
    for ep, info in meta.episodes.items():
        assert info.outcome in (Outcome.SUCCESS, Outcome.FAILURE)
        flag = action[episode == ep, 14]
        assert info.source == source_from_intervention(int(flag.sum()), len(flag))
        assert (info.outcome == Outcome.SUCCESS) == (results[ep].end == "success")


def test_phase_changes_go_through_the_phase_machine(collected):
    from lerobot_recap.envs.collect import COLLECT_META_PATH
    from lerobot_recap.teleoperators.recap_dagger.phase import (
        Phase,
        PhaseEvent,
        _next_phase,
    )

    root, _ = collected
    _, action, episode = _frames(root)
    meta = json.loads((root / COLLECT_META_PATH).read_text())
    for ep in meta["episodes"]:
        phases = action[episode == ep["index"], 15].astype(int)
        phase, changes = Phase.PAUSED, {}
        for frame, event, before, after, _reason in ep["transitions"]:
            assert Phase[before] is phase
            expected, refused = _next_phase(phase, PhaseEvent(event))
            assert not refused and expected is Phase[after]
            phase = expected
            changes.setdefault(frame, []).append((before, after))
        assert phase is Phase.PAUSED  # the episode end pauses, as recap_dagger does
        # Every change of the recorded phase is a pedal pair through PAUSED (never AUTONOMOUS<->CORRECTING directly).
        assert phases[0] == Phase.AUTONOMOUS
        for i in np.flatnonzero(np.diff(phases)) + 1:
            pair = changes[int(i)]
            assert [p[0] for p in pair] == [Phase(phases[i - 1]).name, "PAUSED"]
            assert [p[1] for p in pair] == ["PAUSED", Phase(phases[i]).name]


def test_annotate_accepts_the_recording_as_is(collected, tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset

    root, _ = collected
    _, action, _ = _frames(root)
    summary = annotate_dataset(AnnotateConfig(root=root, output_root=tmp_path / "annotated"), progress=False)
    assert summary.sources == {"correction": 4}
    annotated = LeRobotDataset("local/annotated", root=tmp_path / "annotated")
    table = annotated.hf_dataset.with_format("numpy")
    intervention = np.asarray(table["intervention"]).reshape(-1)
    np.testing.assert_array_equal(intervention, action[:, 14].astype(np.int64))
    assert set(np.unique(intervention)) == {0, 1}
    assert tuple(annotated.features["action"]["shape"]) == (14,)  # the recap.* dims are stripped
    np.testing.assert_allclose(np.stack(table["action"]), action[:, :14])


def test_without_corrections_the_policy_drives_every_frame(handover_checkpoint, tmp_path):
    from lerobot_recap.data.contract import Source
    from lerobot_recap.data.metadata import load_recap_metadata
    from lerobot_recap.envs.collect import collect_dataset

    cfg = _config(
        handover_checkpoint,
        tmp_path / "auto",
        n_episodes=3,
        batch_size=2,
        episode_length=12,
        corrections=False,
    )
    results = collect_dataset(cfg, progress=False)
    _, action, episode = _frames(tmp_path / "auto")
    assert len(results) == 3 and sorted(set(episode.tolist())) == [
        0,
        1,
        2,
    ]  # a last, smaller batch of 1
    assert np.all(action[:, 14] == 0) and np.all(action[:, 15] == 1)
    assert {info.source for info in load_recap_metadata(tmp_path / "auto").episodes.values()} == {Source.ROLLOUT}


def test_seeds_are_disjoint_from_generate_and_eval():
    from lerobot_recap.envs.collect import MAX_EPISODES, env_seed
    from lerobot_recap.envs.generate import SEED_BASE, SEED_STRIDE

    for seed in (0, 1, 7):
        collect = {env_seed(seed, i) for i in (0, MAX_EPISODES - 1)}
        generate = range(
            SEED_BASE + SEED_STRIDE * seed,
            SEED_BASE + SEED_STRIDE * seed + MAX_EPISODES,
        )
        assert not any(s in generate for s in collect)
        assert min(collect) > 1000 + 10_000  # lerobot-eval's seeds: 1000 + i


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    from tests.conftest import cli_env

    return subprocess.run(
        [str(BIN / "lerobot-recap-collect"), *args],
        check=False,
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


BAD_INPUT = [
    (["--n_episodes=0"], "--n_episodes"),
    (["--batch_size=0"], "--batch_size"),
    ([], "--policy.path"),
    (["--policy.path=/nonexistent/pretrained_model"], "no config.json"),
    (["--spawn_scale=2"], "--spawn_scale"),
    (
        ["--image_size=48"],
        f"--image_size={IMAGE}",
    ),  # the policy was trained on 32 px images
    (["--cameras=[side]"], "camera 'top'"),
]


@pytest.mark.parametrize("args, says", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(args, says, handover_checkpoint, tmp_path, monkeypatch, capsys):
    """In process, through the same wrapper as the console script (a subprocess costs ~15 s of imports here)."""
    from lerobot_recap.scripts.cli import EXIT_BAD_INPUT, run_cli
    from lerobot_recap.scripts.lerobot_recap_collect import collect_cli

    if not any(a.startswith("--policy.path") for a in args) and says != "--policy.path":
        args = [f"--policy.path={handover_checkpoint}", *args]
    monkeypatch.setattr(
        sys,
        "argv",
        ["lerobot-recap-collect", *args, f"--output_dir={tmp_path / 'out'}"],
    )
    with pytest.raises(SystemExit) as exit_info:
        run_cli(collect_cli, "lerobot-recap-collect")
    assert exit_info.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("lerobot-recap-collect: error:")]
    assert len(errors) == 1 and says in errors[0], err[-2000:]
    assert not (tmp_path / "out").exists()


def test_console_script_refuses_bad_input_with_one_line(handover_checkpoint, tmp_path):
    proc = _cli(
        f"--policy.path={handover_checkpoint}",
        "--n_episodes=0",
        f"--output_dir={tmp_path / 'out'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors == ["lerobot-recap-collect: error: --n_episodes must be in [1, 50000] (got 0)"], proc.stderr[-2000:]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_collects_and_reports(handover_checkpoint, tmp_path):
    proc = _cli(
        f"--policy.path={handover_checkpoint}",
        "--policy.device=cpu",
        "--n_episodes=2",
        "--batch_size=2",
        "--episode_length=20",
        f"--image_size={IMAGE}",
        "--torch_threads=1",
        f"--output_dir={tmp_path / 'round'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["episodes"] == 2 and 2 <= counts["frames"] <= 40
    assert "episodes/min" in proc.stdout
    assert (tmp_path / "round/meta/recap.json").is_file()


def test_same_seed_same_dataset(handover_checkpoint, tmp_path):
    from lerobot_recap.envs.collect import collect_dataset

    actions = []
    for name in ("a", "b"):
        cfg = _config(handover_checkpoint, tmp_path / name, n_episodes=2, batch_size=2, episode_length=15, seed=5)
        collect_dataset(cfg, progress=False)
        actions.append(_frames(tmp_path / name)[1])
    np.testing.assert_array_equal(actions[0], actions[1])
