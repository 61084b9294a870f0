"""Nested device choices for the wrapper configs, without the wrappers themselves.

``recap_dagger`` nests a leader teleoperator and ``recap_observed`` nests a robot. Typed as plain
``TeleoperatorConfig`` / ``RobotConfig``, draccus would offer the wrappers as their own nested choices and recurse
forever while building the CLI parser. These views list every registered type (LeRobot's and plugins', read at
parse time) except the wrappers, and otherwise behave like the registries they mirror.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from draccus.choice_types import ChoiceType
from lerobot.robots.config import RobotConfig
from lerobot.teleoperators.config import TeleoperatorConfig

WRAPPER_TELEOPS = frozenset({"recap_dagger"})
WRAPPER_ROBOTS = frozenset({"recap_observed"})


def _view(registry: Any, excluded: frozenset[str], kind: str) -> type:
    # A dataclass, so draccus wraps ``View | None`` fields as optional choices (as it does TeleoperatorConfig).
    @dataclass
    class _ChoiceView(ChoiceType):
        @classmethod
        def get_known_choices(cls) -> dict[str, Any]:
            return {k: v for k, v in registry.get_known_choices().items() if k not in excluded}

        @classmethod
        def get_choice_class(cls, name: str) -> Any:
            if name in excluded:
                raise ValueError(f"{name!r} cannot be nested inside itself: give the real {kind} type here")
            return registry.get_choice_class(name)

        @classmethod
        def get_choice_name(cls, subcls: type) -> str:
            return registry.get_choice_name(subcls)

        @classmethod
        def default_choice_name(cls) -> str | None:
            return None

    return _ChoiceView


NestedTeleoperatorConfig = _view(TeleoperatorConfig, WRAPPER_TELEOPS, "teleoperator")
NestedTeleoperatorConfig.__name__ = NestedTeleoperatorConfig.__qualname__ = "NestedTeleoperatorConfig"
NestedRobotConfig = _view(RobotConfig, WRAPPER_ROBOTS, "robot")
NestedRobotConfig.__name__ = NestedRobotConfig.__qualname__ = "NestedRobotConfig"
