"""Every config field's docstring is what the stock CLIs' --help shows for it.

draccus (LeRobot's CLI parser) reads a field's help from the source: a comment above the field wins over the
docstring below it, and a docstring line with a single `name: text` colon is mistaken for a field definition (the
field then has no help at all). This test reads each docstring with ``ast`` and asks draccus for the same field.
"""

import ast
import dataclasses
import importlib
import inspect
import textwrap

import pytest
from draccus.wrappers import docstring as draccus_docstring

import lerobot_recap

CLI_CONFIGS = [
    "lerobot_recap.data.annotate:AnnotateConfig",
    "lerobot_recap.data.pistar:ExportPistarConfig",
    "lerobot_recap.data.label:LabelConfig",
    "lerobot_recap.pipeline.runner:PipelineConfig",
    "lerobot_recap.envs.generate:GenerateConfig",
    "lerobot_recap.envs.collect:CollectConfig",
    "lerobot_recap.motors.yam.server:YamServerConfig",
    "lerobot_recap.scripts.lerobot_recap_convert_checkpoint:ConvertCheckpointConfig",
    "lerobot_recap.serving.websocket_server:ServeConfig",
    "lerobot_recap.serving.async_server:RecapPolicyServerConfig",
    "lerobot_recap.scripts.lerobot_recap_remote_policy:RemotePolicyFolderConfig",
]


def _config_classes() -> list[type]:
    from lerobot.cameras import CameraConfig
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.envs.configs import EnvConfig
    from lerobot.robots import RobotConfig
    from lerobot.teleoperators import TeleoperatorConfig

    registries = {"policy": PreTrainedConfig, "robot": RobotConfig, "camera": CameraConfig,
                  "teleop": TeleoperatorConfig, "env": EnvConfig}
    classes = [
        registries[kind].get_choice_class(name)
        for kind, names in lerobot_recap.REGISTERED_TYPES.items()
        for name in names
    ]
    for spec in CLI_CONFIGS:
        module, name = spec.split(":")
        classes.append(getattr(importlib.import_module(module), name))
    seen, queue = [], list(classes)
    while queue:  # nested dataclass configs (arms, gravity models, ...) show in --help too
        cls = queue.pop()
        if cls in seen or not cls.__module__.startswith("lerobot_recap"):
            continue
        seen.append(cls)
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default) and not isinstance(default, type):
                queue.append(type(default))
    return seen


def _own_docstrings(cls: type) -> dict[str, str]:
    """Field name -> the string literal right under it, for fields defined in this class's own source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:] + [None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
                docs[node.target.id] = after.value.value
    return docs


@pytest.mark.parametrize("cls", _config_classes(), ids=lambda c: c.__name__)
def test_help_of_every_field_is_its_docstring(cls):
    docs = _own_docstrings(cls)
    wrong = {}
    for name, doc in docs.items():
        shown = draccus_docstring.get_preferred_help_text(
            draccus_docstring.get_attribute_docstring(cls, name), preferred_help=draccus_docstring.HelpOrder.inline
        )
        if (shown or "").strip() != inspect.cleandoc(doc).strip():
            wrong[name] = shown
    assert not wrong, f"{cls.__name__}: --help shows something else than the docstring for {wrong}"
