"""The ``foot_pedal`` teleoperator: a USB foot pedal as an intervention switch, following LeRobot's HIL convention.

It produces no arm action; other tools read it through ``get_teleop_events()`` (``TeleopEvents.IS_INTERVENTION``,
as LeRobot's gamepad and keyboard teleops do) or, like ``recap_dagger``, through ``poll()`` for the queued edges.
evdev is imported only when the pedal connects.
"""

from __future__ import annotations

import logging
from typing import Any

from lerobot.teleoperators.teleoperator import Teleoperator
from lerobot.teleoperators.utils import TeleopEvents

from lerobot_recap.teleoperators.foot_pedal.config_foot_pedal import FootPedalConfig
from lerobot_recap.teleoperators.foot_pedal.pedal_reader import (
    EV_KEY,
    PedalDevice,
    PedalEvent,
    PedalNotFoundError,
    PedalReader,
    resolve_key_code,
)

logger = logging.getLogger(__name__)

PERMISSION_HINT = (
    "make /dev/input/event* readable: 'sudo usermod -aG input $USER' and log in again, or install the udev rule "
    "from the README"
)


def find_pedal_device(config: FootPedalConfig) -> PedalDevice:
    """Open the pedal named by ``config``: explicit path, else vendor/product id, else name substring."""
    import evdev  # lazy: Linux-only, optional dependency

    if config.device_path:
        try:
            device = evdev.InputDevice(config.device_path)
        except FileNotFoundError as err:
            raise PedalNotFoundError(
                f"foot pedal device {config.device_path} does not exist: is the pedal plugged in? "
                "List devices with 'ls -l /dev/input/by-id/'"
            ) from err
        except PermissionError as err:
            raise PermissionError(f"cannot open foot pedal {config.device_path}: {PERMISSION_HINT}") from err
        return _grab(device, config)

    wanted = resolve_key_code(config.intervention_key)
    vendor_id, product_id = config.vendor_product()
    candidates = []
    seen = []
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue
        seen.append(f"{path} {device.name!r} {device.info.vendor:04x}:{device.info.product:04x}")
        keys = device.capabilities().get(EV_KEY, [])
        by_id = device.info.vendor == vendor_id and device.info.product == product_id
        by_name = bool(config.name_contains) and config.name_contains.lower() in device.name.lower()
        if (by_id or by_name) and wanted in keys:
            candidates.append((not by_id, "keyboard" not in device.name.lower(), path, device))
        else:
            device.close()
    if not candidates:
        raise PedalNotFoundError(
            f"no foot pedal {config.usb_id}"
            f"{' or named ' + repr(config.name_contains) if config.name_contains else ''} with key "
            f"{config.intervention_key} among the readable input devices {seen or '(none)'}. Plug it in, set "
            f"--teleop.pedal.device_path or --teleop.pedal.usb_id, or {PERMISSION_HINT}"
        )
    # Prefer an id match, then the node whose name says keyboard (the pedal also exposes mouse/HID nodes).
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    for _, _, _, extra in candidates[1:]:
        extra.close()
    return _grab(candidates[0][3], config)


def _grab(device: Any, config: FootPedalConfig) -> Any:
    if config.grab:
        try:
            device.grab()
        except OSError as err:
            device.close()
            raise OSError(
                f"cannot grab foot pedal {device.path} exclusively ({err}): another process holds it. Close it or "
                "set --teleop.grab=false"
            ) from err
    return device


class FootPedal(Teleoperator):
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
    def is_calibrated(self) -> bool:
        return True

    def calibrate(self) -> None:
        pass

    def configure(self) -> None:
        pass

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
