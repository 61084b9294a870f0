"""The foot pedal fed with real evdev.InputEvent objects at the device-read level."""

from __future__ import annotations

import errno
import json
import logging

import pytest

evdev = pytest.importorskip("evdev")
from evdev import InputEvent, ecodes  # noqa: E402
from lerobot.teleoperators.utils import TeleopEvents  # noqa: E402

from lerobot_recap.teleoperators.foot_pedal import FootPedal, FootPedalConfig  # noqa: E402
from lerobot_recap.teleoperators.foot_pedal.pedal_reader import PedalNotFoundError  # noqa: E402
from lerobot_recap.utils.config_errors import ConfigError  # noqa: E402


class FakePedalDevice:
    """evdev.InputDevice's reading surface over a queue of real InputEvents; can be 'unplugged'."""

    def __init__(self) -> None:
        self.pending: list[InputEvent] = []
        self.unplugged = False
        self.closed = False
        self.held_codes: list[int] = []
        self._t = 0

    def key(self, name: str, value: int) -> None:
        self._t += 1000
        self.pending.append(InputEvent(0, self._t, ecodes.EV_KEY, ecodes.ecodes[name], value))

    def syn(self) -> None:
        self.pending.append(InputEvent(0, self._t, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))

    def read_one(self):
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        return self.pending.pop(0) if self.pending else None

    def active_keys(self):
        return list(self.held_codes)

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_pedal(mode: str = "hold", devices: list | None = None, tmp_path=None) -> tuple[FootPedal, list]:
    devices = devices if devices is not None else [FakePedalDevice()]
    queue = list(devices)

    def factory():
        if not queue:
            raise FileNotFoundError(2, "No such file or directory", "/dev/input/by-id/pedal")
        return queue.pop(0)

    config = FootPedalConfig(mode=mode, calibration_dir=tmp_path, reconnect_interval_s=0.5)
    pedal = FootPedal(config, device_factory=factory)
    pedal.connect()
    return pedal, devices


def kinds(events):
    return [(e.kind, e.role) for e in events]


def test_hold_mode_press_release_and_repeat(tmp_path):
    pedal, (dev,) = make_pedal("hold", tmp_path=tmp_path)
    dev.key("KEY_B", 1)
    dev.syn()
    assert kinds(pedal.poll()) == [("press", "intervention")]
    assert pedal.get_teleop_events()[TeleopEvents.IS_INTERVENTION] is True
    for _ in range(5):  # auto-repeat while held: no new edges, still held
        dev.key("KEY_B", 2)
    assert pedal.poll() == []
    assert pedal.get_action() == {"intervention": 1.0}
    dev.key("KEY_B", 0)
    assert kinds(pedal.poll()) == [("release", "intervention")]
    assert pedal.get_teleop_events()[TeleopEvents.IS_INTERVENTION] is False


def test_toggle_mode_flips_on_press_only(tmp_path):
    pedal, (dev,) = make_pedal("toggle", tmp_path=tmp_path)
    dev.key("KEY_B", 1)
    dev.key("KEY_B", 2)
    dev.key("KEY_B", 2)
    dev.key("KEY_B", 0)
    pedal.poll()
    assert pedal.reader.is_intervention is True  # one press -> on; repeats and release do not flip it
    dev.key("KEY_B", 1)
    dev.key("KEY_B", 0)
    pedal.poll()
    assert pedal.reader.is_intervention is False


def test_quick_taps_between_polls_are_not_lost(tmp_path):
    pedal, (dev,) = make_pedal("hold", tmp_path=tmp_path)
    dev.key("KEY_A", 1)
    dev.key("KEY_A", 0)
    dev.key("KEY_B", 1)
    dev.key("KEY_B", 0)
    dev.key("KEY_A", 1)
    dev.key("KEY_A", 0)
    assert kinds(pedal.poll()) == [
        ("press", "pause"),
        ("release", "pause"),
        ("press", "intervention"),
        ("release", "intervention"),
        ("press", "pause"),
        ("release", "pause"),
    ]
    assert pedal.reader.is_intervention is False


def test_other_keys_are_ignored(tmp_path):
    pedal, (dev,) = make_pedal("hold", tmp_path=tmp_path)
    dev.key("KEY_C", 1)
    dev.key("KEY_Z", 1)
    assert pedal.poll() == []


def test_repeat_without_press_counts_as_held_in_hold_mode_only(tmp_path):
    pedal, (dev,) = make_pedal("hold", tmp_path=tmp_path)
    dev.key("KEY_B", 2)
    assert kinds(pedal.poll()) == [("press", "intervention")]
    toggle, (tdev,) = make_pedal("toggle", tmp_path=tmp_path)
    tdev.key("KEY_B", 2)
    assert toggle.poll() == [] and toggle.reader.is_intervention is False


def test_unplug_releases_warns_and_reconnects(tmp_path, caplog):
    first, second = FakePedalDevice(), FakePedalDevice()
    pedal, _ = make_pedal("hold", devices=[first, second], tmp_path=tmp_path)
    clock = Clock()
    pedal.reader._clock = clock
    first.key("KEY_B", 1)
    pedal.poll()
    assert pedal.reader.is_intervention
    first.unplugged = True
    with caplog.at_level(logging.WARNING):
        events = pedal.poll()
    assert kinds(events) == [("lost", None)]
    assert "lost" in events[0].detail and "USB" in events[0].detail
    assert any("foot pedal" in r.message and "lost" in r.message for r in caplog.records)
    assert pedal.reader.is_intervention is False and first.closed
    # within the reconnect interval nothing is tried; afterwards the next device is opened
    clock.t = 0.1
    assert pedal.poll() == []
    clock.t = 1.0
    second.held_codes = [ecodes.KEY_B]  # the foot still rests on the pedal at replug
    events = pedal.poll()
    assert kinds(events) == [("reconnected", None)]
    second.key("KEY_B", 2)
    assert pedal.poll() == [] and not pedal.reader.is_intervention  # re-armed only after a release
    second.key("KEY_B", 0)
    second.key("KEY_B", 1)
    assert kinds(pedal.poll()) == [("press", "intervention")]
    assert pedal.reader.is_intervention


def test_reconnect_keeps_trying_while_absent(tmp_path):
    pedal, (dev,) = make_pedal("hold", tmp_path=tmp_path)
    clock = Clock()
    pedal.reader._clock = clock
    dev.unplugged = True
    pedal.poll()
    for step in range(1, 5):
        clock.t = step * 1.0
        assert pedal.poll() == []  # factory raises FileNotFoundError: still lost, no crash
    assert not pedal.reader.connected


def test_replay_file_goes_through_the_same_reader(tmp_path):
    script = [
        {"tick": 1, "key": "KEY_B", "value": 1},
        {"tick": 1, "key": "KEY_B", "value": 0},
        {"tick": 3, "key": "KEY_A", "value": 1},
    ]
    path = tmp_path / "pedal.json"
    path.write_text(json.dumps(script))
    pedal = FootPedal(FootPedalConfig(replay_path=str(path), calibration_dir=tmp_path))
    pedal.connect()
    polls = [kinds(pedal.poll()) for _ in range(4)]
    assert polls == [[], [("press", "intervention"), ("release", "intervention")], [], [("press", "pause")]]


def test_config_rejects_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="mode"):
        FootPedalConfig(mode="latch")
    with pytest.raises(ConfigError, match="own key"):
        FootPedalConfig(intervention_key="KEY_A", pause_key="KEY_A")
    pedal = FootPedal(FootPedalConfig(intervention_key="KEY_NOPE", calibration_dir=tmp_path), device_factory=FakePedalDevice)
    with pytest.raises(ValueError, match="unknown evdev key name"):
        pedal.connect()


def test_missing_device_path_is_a_clear_error(tmp_path):
    pedal = FootPedal(FootPedalConfig(device_path=str(tmp_path / "no-pedal"), calibration_dir=tmp_path))
    with pytest.raises(PedalNotFoundError, match="plugged in"):
        pedal.connect()


def test_usb_id_is_parsed_as_lsusb_prints_it():
    assert FootPedalConfig(usb_id="1a86:e026").vendor_product() == (0x1A86, 0xE026)
    with pytest.raises(ConfigError, match="vendor:product in hex"):
        FootPedalConfig(usb_id="3553")
