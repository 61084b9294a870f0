"""Stock ``lerobot-train --policy.type=pi06_recap`` data-parallel over 2 CPU processes with ``accelerate launch``.

Why this invocation: ``accelerate launch --cpu --num_processes=2`` starts ONE process (accelerate's multi-CPU
launcher is mpirun, used only with ``--mpirun_hostfile``). ``--multi_gpu`` is accelerate's torchrun launcher: it
starts N workers with LOCAL_RANK/WORLD_SIZE set, and lerobot-train builds ``Accelerator(cpu=True)`` when
``--policy.device=cpu``, which accelerate then runs as MULTI_CPU over gloo. No GPU is touched. The equivalent
without accelerate's launcher is ``torchrun --standalone --nproc_per_node=2 -m lerobot.scripts.lerobot_train ...``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from tests.conftest import cli_env, venv_script

BATCH_SIZE = 2
N_PROCESSES = 2


@pytest.fixture
def annotated_dataset(make_dataset, tmp_path) -> Path:
    from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
    from lerobot_recap.data.synthetic import SyntheticDatasetSpec, random_episodes

    spec = SyntheticDatasetSpec(episodes=random_episodes(4, seed=0), image_size=(24, 32))
    source = make_dataset("pi06_ddp", spec=spec)
    root = tmp_path / "pi06_ddp_recap"
    annotate_dataset(AnnotateConfig(root=source, output_root=root), progress=False)
    return root


def accelerate_cpu_command(n_processes: int, log_dir: Path) -> list[str]:
    """`accelerate launch` prefix that really starts ``n_processes`` CPU workers on this machine."""
    return [
        venv_script("accelerate"), "launch",
        "--multi_gpu",  # the torchrun launcher; the workers run on CPU (see the module docstring)
        f"--num_processes={n_processes}",
        "--num_machines=1",
        "--mixed_precision=no",
        "--dynamo_backend=no",
        "--main_process_port=0",  # a free port: parallel test runs do not collide on 29500
        f"--log_dir={log_dir}",
        "--tee=3",  # each rank's stdout/stderr into log_dir/<run>/attempt_0/<rank>/ and to the console
        "-m", "lerobot.scripts.lerobot_train",
    ]


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(annotated_dataset, tmp_path):
    out, log_dir = tmp_path / "train", tmp_path / "rank_logs"
    command = [
        *accelerate_cpu_command(N_PROCESSES, log_dir),
        "--dataset.repo_id=local/pi06_ddp_recap",
        f"--dataset.root={annotated_dataset}",
        "--policy.type=pi06_recap",
        "--policy.size=tiny",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        f"--batch_size={BATCH_SIZE}",
        "--steps=2",
        "--save_freq=2",
        "--log_freq=1",
        "--num_workers=0",
        "--wandb.enable=false",
        f"--output_dir={out}",
    ]
    # One thread per worker: two workers share the machine's cores.
    proc = subprocess.run(command, cwd=tmp_path, env=cli_env(OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]

    # Two ranks ran: accelerate saw num_processes=2, and each optimizer step consumed one batch per rank.
    assert f"Effective batch size: {BATCH_SIZE} x {N_PROCESSES} = {BATCH_SIZE * N_PROCESSES}" in log
    assert f"step:1 smpl:{BATCH_SIZE * N_PROCESSES} " in log and "step:2 " in log
    assert "no adv_ind labels" not in log  # each rank read the labels by frame index
    rank_dirs = sorted(p.name for p in log_dir.glob("*/attempt_0/*") if p.is_dir())
    assert rank_dirs == ["0", "1"], rank_dirs
    assert any(line.startswith("[default1]:") for line in log.splitlines())  # rank 1 wrote output (gloo setup)

    # The checkpoint is written once, unwrapped from DDP, and reloads as --policy.path does.
    ckpt = out / "checkpoints" / "000002" / "pretrained_model"
    for name in ("config.json", "model.safetensors", "policy_preprocessor.json", "policy_postprocessor.json",
                 "train_config.json", "tokenizer/tokenizer.json"):
        assert (ckpt / name).is_file(), name
    from safetensors.torch import load_file

    saved = load_file(ckpt / "model.safetensors")
    assert not any(k.startswith("module.") for k in saved), "DDP wrapper leaked into the checkpoint keys"

    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata
    from lerobot.policies.factory import make_policy

    cfg = PreTrainedConfig.from_pretrained(ckpt)
    cfg.pretrained_path = ckpt
    assert cfg.type == "pi06_recap" and cfg.size == "tiny"
    policy = make_policy(cfg, ds_meta=LeRobotDatasetMetadata("local/pi06_ddp_recap", root=annotated_dataset))
    reloaded = policy.state_dict()
    for key, value in saved.items():
        assert torch.equal(reloaded[key], value), key
