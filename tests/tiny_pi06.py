"""A tiny real ``pi06_recap`` checkpoint for tests that drive a policy (stage 0, evaluation, collection)."""

from __future__ import annotations

from pathlib import Path


def build_tiny_pi06_checkpoint(out: Path, joints: int, cameras: dict[str, tuple[int, int, int]], **overrides) -> Path:
    """A randomly initialised tiny ``pi06_recap`` saved as lerobot-train saves one.

    The weights (``save_pretrained``, with the tokenizer beside them), ``config.json`` and the pre/post-processors
    built from quantile stats, so that loading it goes through the same factories as a trained checkpoint.
    ``joints`` is the state and action size, ``cameras`` maps a camera name to its (H, W, C).
    """
    import numpy as np
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.factory import make_pre_post_processors

    from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig
    from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapPolicy

    torch.manual_seed(0)
    n = joints
    overrides = {"chunk_size": 4, "n_action_steps": 4, "num_inference_steps": 2, "max_state_dim": 16, **overrides}
    overrides.setdefault("max_action_dim", overrides["max_state_dim"])
    config = PI06RecapConfig.tiny(
        input_features={
            "observation.state": PolicyFeature(type=FeatureType.STATE, shape=(n,)),
            **{
                f"observation.images.{name}": PolicyFeature(type=FeatureType.VISUAL, shape=(c, h, w))
                for name, (h, w, c) in cameras.items()
            },
        },
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(n,))},
        push_to_hub=False,
        **overrides,
    )
    policy = PI06RecapPolicy(config)
    spread = {
        "mean": np.zeros(n, np.float32),
        "std": np.full(n, 0.5, np.float32),
        "min": np.full(n, -1.0, np.float32),
        "max": np.full(n, 1.0, np.float32),
        "q01": np.full(n, -1.0, np.float32),
        "q99": np.full(n, 1.0, np.float32),
    }
    preprocessor, postprocessor = make_pre_post_processors(
        config, dataset_stats={"observation.state": spread, "action": spread}
    )
    out.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(out)
    preprocessor.save_pretrained(out)
    postprocessor.save_pretrained(out)
    return out
