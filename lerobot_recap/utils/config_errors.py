"""The error a device config raises for a value that cannot work, worded so that stock LeRobot CLIs show it.

draccus builds every config of a stock CLI (``lerobot-record --teleop.type=recap_dagger ...``) and turns a
``ValueError`` or ``TypeError`` raised by a config's ``__post_init__`` into "Couldn't instantiate class X using the
given arguments", dropping the reason. :class:`ConfigError` is draccus' own ``DecodingError``, which it passes on
with its message: LeRobot's parser prints it as ``error: <message>``, and inside an optional field such as
``--teleop`` it is quoted in draccus' "Could not decode the value" report. The project's own CLIs
(:func:`lerobot_recap.scripts.cli.run_cli`) treat it as bad input like a ``ValueError``.
"""

from __future__ import annotations

from draccus.utils import DecodingError


class ConfigError(DecodingError):
    """A config value that cannot work; the message names the option and what to give instead.

    Not a ValueError on purpose: draccus wraps ValueErrors into its reason-less "Couldn't instantiate".
    """

    def __init__(self, message: str) -> None:
        super().__init__((), message)
