"""Hardware-free pedal logic: turn evdev key events into press/release edges and an intervention state.

The reader works on any object with evdev's ``InputDevice`` reading surface (``read_one()`` returning an
``InputEvent`` or ``None``; optionally ``active_keys()``, ``grab()``, ``close()``), so tests and dry runs feed it
real ``evdev.InputEvent`` objects without hardware. Edges are queued per poll, so a tap shorter than the control
period (press and release between two polls) still reaches the caller. An ``OSError`` from the device (USB unplug,
``ENODEV``) releases everything, reports a ``lost`` event with a clear warning, and the reader reopens the device
every ``reconnect_interval_s`` until it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

EV_KEY = 0x01
"""evdev event type of key/button events (``evdev.ecodes.EV_KEY``)."""
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2
"""evdev key event values: release, press, auto-repeat while held."""


class PedalDevice(Protocol):
    """The part of ``evdev.InputDevice`` the reader uses."""

    def read_one(self) -> Any: ...


class PedalNotFoundError(RuntimeError):
    """No input device matched the pedal's path, ids or name."""


@dataclass(frozen=True)
class PedalEvent:
    """One thing that happened on the pedal since the last poll."""

    kind: str
    """'press', 'release', 'lost' (device gone) or 'reconnected'."""
    role: str | None = None
    """Which pedal - 'intervention' or 'pause' (None for lost/reconnected)."""
    timestamp: float = 0.0
    """Kernel timestamp of the key event (seconds), or the reader's clock for lost/reconnected."""
    detail: str = ""
    """Human-readable reason for lost/reconnected."""


def resolve_key_code(name: str) -> int:
    """evdev key code of a name such as 'KEY_B' or 'BTN_LEFT' (pedals programmed as mouse buttons)."""
    from evdev import ecodes  # lazy: evdev is Linux-only and optional

    code = ecodes.ecodes.get(name)
    if code is None or not (name.startswith("KEY_") or name.startswith("BTN_")):
        raise ValueError(f"unknown evdev key name {name!r}: use a name from evdev.ecodes such as 'KEY_B' or 'BTN_LEFT'")
    return int(code)


class PedalReader:
    """Edge-queued, reconnecting reader of a (multi-)pedal.

    ``key_roles`` maps evdev key codes to roles ('intervention', 'pause'). In 'hold' mode the intervention is on
    while its pedal is held; in 'toggle' mode each press flips it (auto-repeat never toggles).
    """

    def __init__(
        self,
        open_device: Callable[[], PedalDevice],
        key_roles: dict[int, str],
        mode: str = "hold",
        reconnect_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        describe: str = "foot pedal",
    ) -> None:
        if mode not in ("hold", "toggle"):
            raise ValueError(f"pedal mode must be 'hold' or 'toggle', got {mode!r}")
        self._open_device = open_device
        self._key_roles = dict(key_roles)
        self.mode = mode
        self._reconnect_interval_s = reconnect_interval_s
        self._clock = clock
        self._describe = describe
        self._device: PedalDevice | None = None
        self._last_attempt = float("-inf")
        self._was_connected = False
        self.held: set[str] = set()
        # Roles still physically held when the device came back: they count only after a release, so a foot
        # resting on the pedal during a replug never starts an intervention by itself.
        self._unarmed: set[str] = set()
        self.toggled = False

    @property
    def connected(self) -> bool:
        return self._device is not None

    @property
    def is_intervention(self) -> bool:
        if self.mode == "toggle":
            return self.toggled
        return "intervention" in self.held

    def open(self) -> None:
        """Open the device now; errors propagate (used at connect time so a missing pedal fails loudly)."""
        self._device = self._open_device()
        self._was_connected = True
        self._last_attempt = self._clock()

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None and hasattr(device, "close"):
            try:
                device.close()
            except OSError:
                pass

    def poll(self) -> list[PedalEvent]:
        """Drain every pending event; return the edges in order (plus lost/reconnected events)."""
        events: list[PedalEvent] = []
        if self._device is None:
            reconnected = self._try_reconnect()
            if reconnected is None:
                return events
            events.append(reconnected)
        assert self._device is not None
        while True:
            try:
                raw = self._device.read_one()
            except BlockingIOError:
                break
            except OSError as err:
                events.append(self._on_lost(err))
                break
            if raw is None:
                break
            edge = self._on_raw_event(raw)
            if edge is not None:
                events.append(edge)
        return events

    def _on_raw_event(self, raw: Any) -> PedalEvent | None:
        if raw.type != EV_KEY or raw.code not in self._key_roles:
            return None
        role = self._key_roles[raw.code]
        stamp = float(raw.timestamp())
        if raw.value == KEY_DOWN:
            if role in self.held:
                return None
            self.held.add(role)
            if self.mode == "toggle" and role == "intervention":
                self.toggled = not self.toggled
            return PedalEvent("press", role, stamp)
        if raw.value == KEY_UP:
            self._unarmed.discard(role)
            if role not in self.held:
                return None
            self.held.discard(role)
            return PedalEvent("release", role, stamp)
        if raw.value == KEY_REPEAT and role not in self.held and role not in self._unarmed:
            # A repeat without its press (the press was missed): in hold mode the pedal is evidently held, so
            # report the press; in toggle mode a repeat must never flip the state.
            self.held.add(role)
            if self.mode == "hold":
                return PedalEvent("press", role, stamp)
        return None

    def _on_lost(self, err: OSError) -> PedalEvent:
        self.close()
        self.held.clear()
        self.toggled = False
        self._last_attempt = self._clock()
        detail = (
            f"{self._describe} lost ({err.__class__.__name__}: {err}); intervention released, "
            f"reopening every {self._reconnect_interval_s:g} s - check the USB cable"
        )
        logger.warning(detail)
        return PedalEvent("lost", None, self._clock(), detail)

    def _try_reconnect(self) -> PedalEvent | None:
        now = self._clock()
        if now - self._last_attempt < self._reconnect_interval_s:
            return None
        self._last_attempt = now
        try:
            self._device = self._open_device()
        except (OSError, PedalNotFoundError) as err:
            logger.debug("%s not back yet: %s", self._describe, err)
            return None
        self._unarmed = {self._key_roles[c] for c in _active_keys(self._device) if c in self._key_roles}
        detail = f"{self._describe} {'reconnected' if self._was_connected else 'connected'}"
        self._was_connected = True
        logger.warning(detail)
        return PedalEvent("reconnected", None, now, detail)


def _active_keys(device: Any) -> list[int]:
    if not hasattr(device, "active_keys"):
        return []
    try:
        return list(device.active_keys())
    except OSError:
        return []
