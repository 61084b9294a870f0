"""Config of the ``foot_pedal`` teleoperator (a USB foot pedal read through Linux evdev)."""

from dataclasses import dataclass

from lerobot.teleoperators.config import TeleoperatorConfig

from lerobot_recap.utils.config_errors import ConfigError

PEDAL_MODES = ("hold", "toggle")


@dataclass(kw_only=True)
class FootPedalSettings:
    """A USB foot pedal (iKKEGOL / PCsensor by default) read through evdev.

    The device is found, in this order of precedence, by ``device_path`` (``/dev/input/by-id/...`` or
    ``/dev/input/eventN``), by ``usb_id`` (vendor:product), or by a substring of its name or by-id name. Reading
    needs
    permission on ``/dev/input/event*`` (the ``input`` group or a udev rule, see the README).
    """

    device_path: str | None = None
    """Device to open - /dev/input/by-id/usb-PCsensor_FootSwitch-event-kbd, its bare by-id name, or /dev/input/eventN."""
    usb_id: str = "3553:b001"
    """USB vendor:product id in hex as lsusb prints it (iKKEGOL/PCsensor FootSwitch 3553:b001; also 1a86:e026)."""
    name_contains: str | None = None
    """Case-insensitive substring of the device's name or by-id name, used when no id matches (e.g. 'FootSwitch')."""
    grab: bool = True
    """Grab the device exclusively so pedal keystrokes do not type into the terminal or reach other readers."""
    mode: str = "hold"
    """'hold': the intervention is on while the pedal is held (dead-man); 'toggle': each press flips it."""
    intervention_key: str = "KEY_B"
    """evdev key code of the intervention / correction pedal (iKKEGOL right pedal default - KEY_B)."""
    pause_key: str = "KEY_A"
    """evdev key code of the pause/resume pedal (iKKEGOL left pedal default - KEY_A)."""
    reconnect_interval_s: float = 0.5
    """Seconds between reopen attempts after the pedal was unplugged."""
    replay_path: str | None = None
    """JSON file of scripted pedal events replayed instead of a device (dry runs and tests), see replay.py."""

    def __post_init__(self) -> None:
        # ConfigError, not ValueError: inside stock lerobot-record draccus would drop a ValueError's message.
        if self.mode not in PEDAL_MODES:
            raise ConfigError(f"foot_pedal mode must be one of {PEDAL_MODES}, got {self.mode!r}")
        if self.intervention_key == self.pause_key:
            raise ConfigError(
                f"foot_pedal intervention_key and pause_key are both {self.pause_key!r}: give each pedal its own key"
            )
        try:
            self.vendor_product()  # validate early
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.reconnect_interval_s <= 0:
            raise ConfigError(f"foot_pedal reconnect_interval_s must be > 0, got {self.reconnect_interval_s}")

    def vendor_product(self) -> tuple[int, int]:
        """``usb_id`` as integers."""
        vendor, sep, product = self.usb_id.partition(":")
        try:
            if not sep:
                raise ValueError
            return int(vendor, 16), int(product, 16)
        except ValueError:
            raise ValueError(
                f"foot_pedal usb_id must be vendor:product in hex as lsusb prints it (e.g. 3553:b001), got {self.usb_id!r}"
            ) from None


@TeleoperatorConfig.register_subclass("foot_pedal")
@dataclass(kw_only=True)
class FootPedalConfig(TeleoperatorConfig, FootPedalSettings):
    """The ``foot_pedal`` teleoperator (``FootPedalSettings`` plus a teleoperator id).

    The settings live in a plain dataclass so composite teleops such as recap_dagger can nest them without nesting
    a teleoperator choice (see LeRobot's ``SOLeaderConfig`` / ``SOLeaderTeleopConfig`` split).
    """

    def __post_init__(self) -> None:
        FootPedalSettings.__post_init__(self)
