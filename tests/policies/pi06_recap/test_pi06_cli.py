"""pi06_recap through the stock LeRobot CLIs (subprocesses): fresh training, --resume, LoRA, and serving the
checkpoint the way lerobot-eval/lerobot-record do (config + processors rebuilt from the checkpoint files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env, venv_script

TINY_FLAGS = [
    "--policy.type=pi06_recap",
    "--policy.paligemma_variant=tiny",
    "--policy.action_expert_variant=tiny",
    "--policy.vision_variant=tiny",
    "--policy.vlm_vocab_size=1024",
    "--policy.image_resolution=[28, 28]",
    "--policy.chunk_size=10",
    "--policy.n_action_steps=10",
    "--policy.num_inference_steps=3",
    "--policy.max_state_dim=8",
    "--policy.max_action_dim=8",
    "--policy.tokenizer_max_length=64",
    "--policy.device=cpu",
    "--policy.push_to_hub=false",
]
COMMON = ["--batch_size=4", "--log_freq=1", "--num_workers=0", "--wandb.enable=false"]


def _train(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(
        [venv_script("lerobot-train"), *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=600
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


@pytest.fixture
def annotated_dataset(make_dataset, tmp_path):
    from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
    from lerobot_recap.data.synthetic import SyntheticDatasetSpec, random_episodes

    source = make_dataset("pi06_cli", spec=SyntheticDatasetSpec(episodes=random_episodes(4, seed=0), image_size=(24, 32)))
    root = tmp_path / "pi06_cli_recap"
    annotate_dataset(AnnotateConfig(root=source, output_root=root), progress=False)
    return root


@pytest.mark.slow
def test_train_resume_lora_and_serve(annotated_dataset, tokenizer_dir, tmp_path):
    data = [f"--dataset.repo_id=local/{annotated_dataset.name}", f"--dataset.root={annotated_dataset}"]
    out = tmp_path / "train"
    log = _train([*data, *TINY_FLAGS, f"--policy.tokenizer_name={tokenizer_dir}", *COMMON,
                  "--steps=4", "--save_freq=2", f"--output_dir={out}"], tmp_path)
    assert "step:4" in log and "no adv_ind labels" not in log  # the labels were read by frame index
    ckpt = out / "checkpoints" / "000004" / "pretrained_model"
    for name in ("config.json", "model.safetensors", "policy_preprocessor.json", "policy_postprocessor.json",
                 "tokenizer/tokenizer.json"):
        assert (ckpt / name).is_file(), name
    assert "pi05_prepare_state_tokenizer_processor_step" in (ckpt / "policy_preprocessor.json").read_text()

    # --resume continues from the last checkpoint (processors reloaded from it, labels still by index)
    log = _train([f"--config_path={out / 'checkpoints' / 'last' / 'pretrained_model' / 'train_config.json'}",
                  "--resume=true", "--steps=6"], tmp_path)
    assert "step:6" in log and "step:1 " not in log
    assert (out / "checkpoints" / "000006" / "pretrained_model" / "model.safetensors").is_file()

    # LoRA fine-tuning of the checkpoint through stock --peft.*
    lora_out = tmp_path / "lora"
    log = _train([*data, f"--policy.path={ckpt}", "--policy.push_to_hub=false", "--peft.method_type=LORA",
                  "--peft.r=4", *COMMON, "--steps=2", "--save_freq=2", f"--output_dir={lora_out}"], tmp_path)
    assert "step:2" in log
    assert (lora_out / "checkpoints" / "000002" / "pretrained_model" / "adapter_model.safetensors").is_file()

    # Serve the checkpoint as lerobot-eval / lerobot-record do, in a fresh interpreter, tokenizer dir gone
    # from the config's point of view (it must come from the checkpoint).
    script = f"""
import torch, lerobot_recap
from lerobot.configs.policies import PreTrainedConfig
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.policies.factory import make_policy, make_pre_post_processors
cfg = PreTrainedConfig.from_pretrained({str(ckpt)!r})
cfg.pretrained_path = {str(ckpt)!r}
cfg.tokenizer_name = "/nonexistent/tokenizer"
ds = LeRobotDataset("local/x", root={str(annotated_dataset)!r})
policy = make_policy(cfg, ds_meta=ds.meta)
pre, post = make_pre_post_processors(cfg, pretrained_path={str(ckpt)!r})
frame = {{k: v for k, v in ds[0].items() if k.startswith("observation.") or k == "task"}}
policy.reset()
actions = [post(policy.select_action(pre(dict(frame)))) for _ in range(12)]
assert len(policy._action_queue) == 8, len(policy._action_queue)  # 10-step chunk, a new one after 10
policy.reset(); assert len(policy._action_queue) == 0
print("ACTION_SHAPE", tuple(actions[0].shape), bool(torch.isfinite(torch.stack(actions)).all()))
"""
    proc = subprocess.run([sys.executable, "-c", script], env=cli_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "ACTION_SHAPE (1, 6) True" in proc.stdout
