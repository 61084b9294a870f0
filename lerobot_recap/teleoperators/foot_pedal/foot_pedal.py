"""The ``foot_pedal`` teleoperator: a USB foot pedal as an intervention switch, following LeRobot's HIL convention.

It produces no arm action; other tools read it through ``get_teleop_events()`` (``TeleopEvents.IS_INTERVENTION``,
as LeRobot's gamepad and keyboard teleops do) or, like ``recap_dagger``, through ``poll()`` for the queued edges.
evdev is imported only when the pedal connects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lerobot.teleoperators.teleoperator import Teleoperator
from lerobot.teleoperators.utils import TeleopEvents

from lerobot_recap.teleoperators.foot_pedal.config_foot_pedal import FootPedalConfig, FootPedalSettings
from lerobot_recap.teleoperators.foot_pedal.pedal_reader import (
    EV_KEY,
    PedalDevice,
    PedalEvent,
    PedalNotFoundError,
    PedalReader,
    resolve_key_code,
)
from lerobot_recap.utils.calibration import NoCalibration

logger = logging.getLogger(__name__)

PERMISSION_HINT = (
    "make /dev/input/event* readable: 'sudo usermod -aG input $USER' and log in again, or install the udev rule "
    "from the README"
)

OPTION_PREFIXES = "--teleop.pedal.<option> under recap_dagger, --teleop.<option> for the foot_pedal teleop"

BY_ID_DIR = Path("/dev/input/by-id")
"""udev's stable names of input devices (e.g. usb-PCsensor_FootSwitch-event-kbd -> ../event7)."""


@dataclass(frozen=True)
class InputCandidate:
    """One input device seen during the search, as the 'not found' error lists it."""

    path: str
    aliases: tuple[str, ...]
    name: str | None
    usb_id: str | None
    has_key: bool
    error: str | None = None

    def describe(self) -> str:
        if self.error is not None:
            return f"{self.path} ({self.error})"
        alias = f" = by-id/{', by-id/'.join(self.aliases)}" if self.aliases else ""
        key = "" if self.has_key else ", lacks the key"
        return f"{self.path}{alias} {self.name!r} {self.usb_id}{key}"


def by_id_aliases(by_id_dir: Path) -> dict[str, list[str]]:
    """Real device path -> the by-id link names that point at it (empty if the directory does not exist)."""
    aliases: dict[str, list[str]] = {}
    if not by_id_dir.is_dir():
        return aliases
    for link in sorted(by_id_dir.iterdir()):
        aliases.setdefault(os.path.realpath(link), []).append(link.name)
    return aliases


def find_pedal_device(
    config: FootPedalSettings,
    *,
    list_paths: Callable[[], list[str]] | None = None,
    open_device: Callable[[str], Any] | None = None,
    by_id_dir: Path = BY_ID_DIR,
) -> PedalDevice:
    """Open the pedal named by ``config``: explicit path, else vendor/product id, else name substring.

    ``list_paths`` (default ``evdev.list_devices``) and ``open_device`` (default ``evdev.InputDevice``) are what
    the search reads; tests pass fakes with ``InputDevice``'s attributes (``path``, ``name``, ``info``,
    ``capabilities()``, ``grab()``, ``close()``). The name search also matches the device's by-id link names.
    """
    if list_paths is None or open_device is None:
        import evdev  # lazy: Linux-only, optional dependency

        list_paths = list_paths or evdev.list_devices
        open_device = open_device or evdev.InputDevice
    aliases = by_id_aliases(by_id_dir)

    if config.device_path:
        return _grab(_open_path(config.device_path, open_device, by_id_dir, aliases), config)

    wanted = resolve_key_code(config.intervention_key)
    vendor_id, product_id = config.vendor_product()
    name_part = config.name_contains.lower() if config.name_contains else None
    matches: list[tuple[bool, bool, str, Any]] = []
    seen: list[InputCandidate] = []
    for path in list_paths():
        links = tuple(aliases.get(os.path.realpath(path), []))
        try:
            device = open_device(path)
        except OSError as err:
            seen.append(InputCandidate(path, links, None, None, False, error=f"cannot open: {err.strerror or err}"))
            continue
        has_key = wanted in device.capabilities().get(EV_KEY, [])
        usb_id = f"{device.info.vendor:04x}:{device.info.product:04x}"
        seen.append(InputCandidate(path, links, device.name, usb_id, has_key))
        by_id = device.info.vendor == vendor_id and device.info.product == product_id
        by_name = name_part is not None and any(name_part in text.lower() for text in (device.name, *links))
        if (by_id or by_name) and has_key:
            matches.append((not by_id, "keyboard" not in device.name.lower(), path, device))
        else:
            device.close()
    if not matches:
        listing = "\n  ".join(c.describe() for c in seen) or "(none readable)"
        wanted_text = f"{config.usb_id}" + (f" or named {config.name_contains!r}" if config.name_contains else "")
        raise PedalNotFoundError(
            f"no foot pedal {wanted_text} with key {config.intervention_key} among the input devices:\n  {listing}\n"
            f"Plug it in, or pick one above by setting device_path, usb_id, name_contains or intervention_key "
            f"({OPTION_PREFIXES}); if devices are missing, {PERMISSION_HINT}"
        )
    # Prefer an id match, then the node whose name says keyboard (the pedal also exposes mouse/HID nodes).
    matches.sort(key=lambda m: (m[0], m[1], m[2]))
    for _, _, _, extra in matches[1:]:
        extra.close()
    return _grab(matches[0][3], config)


def _open_path(device_path: str, open_device: Callable[[str], Any], by_id_dir: Path, aliases: dict[str, list[str]]) -> Any:
    """Open an explicit device path; a bare by-id link name is looked up in ``by_id_dir``."""
    path = Path(device_path).expanduser()
    if not path.is_absolute() and not path.exists() and (by_id_dir / path).exists():
        path = by_id_dir / path
    try:
        return open_device(str(path))
    except FileNotFoundError as err:
        links = sorted(name for names in aliases.values() for name in names)
        listing = ", ".join(links) if links else f"none in {by_id_dir}"
        raise PedalNotFoundError(
            f"foot pedal device {device_path} does not exist: is the pedal plugged in? by-id devices: {listing}"
        ) from err
    except PermissionError as err:
        raise PermissionError(f"cannot open foot pedal {path}: {PERMISSION_HINT}") from err


def _grab(device: Any, config: FootPedalSettings) -> Any:
    if config.grab:
        try:
            device.grab()
        except OSError as err:
            device.close()
            raise OSError(
                f"cannot grab foot pedal {device.path} exclusively ({err}): another process holds it. Close it or "
                f"set grab=false ({OPTION_PREFIXES})"
            ) from err
    return device


class FootPedal(NoCalibration, Teleoperator):
    """A foot pedal: intervention (hold or toggle) and pause/resume keys, queued edges, unplug-safe."""

    config_class = FootPedalConfig
    name = "foot_pedal"

    def __init__(self, config: FootPedalConfig, device_factory: Any = None):
        super().__init__(config)
        self.config = config
        # device_factory: a zero-argument callable returning an evdev-like device (tests inject fakes here).
        self._device_factory = device_factory or self._default_factory
        self._reader: PedalReader | None = None

    def _default_factory(self) -> PedalDevice:
        if self.config.replay_path:
            from lerobot_recap.teleoperators.foot_pedal.replay import ReplayPedalDevice

            return ReplayPedalDevice.from_file(self.config.replay_path)
        return find_pedal_device(self.config)

    @property
    def action_features(self) -> dict:
        return {"intervention": float}

    @property
    def feedback_features(self) -> dict:
        return {}

    @property
    def is_connected(self) -> bool:
        return self._reader is not None

    def connect(self, calibrate: bool = True) -> None:
        if self._reader is not None:
            raise RuntimeError("foot_pedal is already connected")
        key_roles = {
            resolve_key_code(self.config.intervention_key): "intervention",
            resolve_key_code(self.config.pause_key): "pause",
        }
        reader = PedalReader(
            self._device_factory,
            key_roles,
            mode=self.config.mode,
            reconnect_interval_s=self.config.reconnect_interval_s,
            describe=f"foot pedal {self.id or ''}".strip(),
        )
        reader.open()
        self._reader = reader

    @property
    def reader(self) -> PedalReader:
        if self._reader is None:
            raise RuntimeError("foot_pedal is not connected: call connect() first")
        return self._reader

    def poll(self) -> list[PedalEvent]:
        """Edges since the last poll (press/release per role, lost/reconnected)."""
        return self.reader.poll()

    def get_action(self) -> dict[str, float]:
        self.poll()
        return {"intervention": float(self.reader.is_intervention)}

    def get_teleop_events(self) -> dict[TeleopEvents, bool]:
        """LeRobot's HIL convention: IS_INTERVENTION from the pedal; the pedal ends no episode by itself."""
        self.poll()
        return {
            TeleopEvents.IS_INTERVENTION: self.reader.is_intervention,
            TeleopEvents.TERMINATE_EPISODE: False,
            TeleopEvents.SUCCESS: False,
            TeleopEvents.RERECORD_EPISODE: False,
        }

    def send_feedback(self, feedback: dict[str, Any]) -> None:
        pass

    def disconnect(self) -> None:
        if self._reader is None:
            raise RuntimeError("foot_pedal is not connected")
        self._reader.close()
        self._reader = None
