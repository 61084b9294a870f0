"""openpi-style observations (ALOHA's images dict, limb's flat YAM keys, LeRobot keys) onto a policy's features."""

from __future__ import annotations

import numpy as np
import pytest

from lerobot_recap.serving.observation_mapping import (
    ObservationError,
    ObservationMapping,
    ObservationMappingConfig,
)
from lerobot_recap.utils.config_errors import ConfigError

YAM_CAMERAS = ["top", "left_wrist", "right_wrist"]
RNG = np.random.default_rng(0)


def yam_mapping(**config) -> ObservationMapping:
    from lerobot.configs.types import FeatureType, PolicyFeature

    features = {"observation.state": PolicyFeature(FeatureType.STATE, (14,))}
    features |= {f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, 24, 32)) for c in YAM_CAMERAS}
    return ObservationMapping.for_policy(features, ObservationMappingConfig(**config))


def chw(h: int = 24, w: int = 32) -> np.ndarray:
    return RNG.integers(0, 256, (3, h, w), dtype=np.uint8)


def test_aloha_style_images_map_onto_the_yam_cameras():
    images = {"cam_high": chw(), "cam_left_wrist": chw(), "cam_right_wrist": chw(), "cam_low": chw()}
    state = np.linspace(-1, 1, 14)  # float64 from a client: the policy gets float32
    mapped = yam_mapping()({"state": state, "images": images, "prompt": "fold"})
    assert sorted(mapped.frame) == ["observation.images.left_wrist", "observation.images.right_wrist",
                                    "observation.images.top", "observation.state"]  # fmt: skip
    assert mapped.frame["observation.state"].dtype == np.float32
    assert np.array_equal(mapped.frame["observation.state"], state.astype(np.float32))
    # CHW in, HWC out (the dataset layout LeRobot's inference path takes), the same bytes.
    assert np.array_equal(mapped.frame["observation.images.top"], images["cam_high"].transpose(1, 2, 0))
    assert np.array_equal(mapped.frame["observation.images.left_wrist"], images["cam_left_wrist"].transpose(1, 2, 0))
    assert mapped.task == "fold" and mapped.advantage is None and mapped.cfg_beta is None and mapped.noise is None


def test_limbs_flat_yam_keys_without_prompt_use_the_default_prompt():
    obs = {"state": np.zeros(14, np.float32), "left_wrist_camera-images-rgb": chw(224, 224),
           "right_wrist_camera-images-rgb": chw(224, 224), "adv_ind": "positive"}  # fmt: skip
    mapped = yam_mapping(preset="limb_yam", default_prompt="hand over")(obs)
    assert sorted(mapped.frame) == ["observation.images.left_wrist", "observation.images.right_wrist", "observation.state"]
    assert mapped.frame["observation.images.left_wrist"].shape == (224, 224, 3)  # pi0.5 resizes; no top: masked out
    assert mapped.task == "hand over" and mapped.advantage == "positive"  # pistar's clients send adv_ind


def test_lerobot_keys_pass_through_and_float_images_stay_in_0_1():
    top = RNG.random((24, 32, 3)).astype(np.float64)  # HWC float
    obs = {"observation.state": np.ones((1, 14)), "observation.images.top": top, "task": "t", "cfg_beta": 1.5,
           "advantage": "negative", "noise": np.zeros((4, 16), np.float32)}  # fmt: skip
    mapped = yam_mapping(preset="none")(obs)
    image = mapped.frame["observation.images.top"]
    assert image.dtype == np.float32 and np.allclose(image, top) and image.flags.writeable
    assert (mapped.task, mapped.advantage, mapped.cfg_beta, mapped.noise.shape) == ("t", "negative", 1.5, (4, 16))


def test_extra_aliases_win_and_unknown_cameras_are_ignored():
    mapped = yam_mapping(cameras={"cam_low": "top"})({"state": np.zeros(14), "images": {"cam_low": chw(), "depth": chw()}})
    assert sorted(mapped.frame) == ["observation.images.top", "observation.state"]
    with pytest.raises(ConfigError, match="does not read"):
        yam_mapping(cameras={"cam_low": "front"})
    with pytest.raises(ConfigError, match="preset"):
        ObservationMappingConfig(preset="aloha2")


@pytest.mark.parametrize(
    ("obs", "message"),
    [
        ([1, 2], "msgpack map"),
        ({"images": {"cam_high": chw()}}, "no state"),
        ({"state": np.zeros(7), "images": {"cam_high": chw()}}, "must hold 14 numbers"),
        ({"state": np.zeros(14), "images": {"front": chw()}}, "no image of the observation maps"),
        ({"state": np.zeros(14), "images": {"cam_high": chw(), "top": chw()}}, "both map onto the camera 'top'"),
        ({"state": np.zeros(14), "images": {"top": chw().astype(np.int32)}}, "uint8"),
        ({"state": np.zeros(14), "images": {"top": np.zeros((24, 32), np.uint8)}}, "3-channel"),
        ({"state": np.zeros(14), "images": ["top"]}, "'images' must map"),
        ({"state": np.zeros(14), "images": {"top": chw()}, "advantage": "great"}, "must be one of"),
        ({"state": np.zeros(14), "images": {"top": chw()}, "cfg_beta": -1.0}, ">= 0"),
        ({"state": np.zeros(14), "images": {"top": chw()}, "prompt": 3}, "must be a string"),
    ],
)
def test_bad_observations_say_what_is_wrong(obs, message):
    with pytest.raises(ObservationError, match=message):
        yam_mapping()(obs)
