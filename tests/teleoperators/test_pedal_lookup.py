"""Finding the foot pedal: by vendor/product id, by by-id path, by name; 'not found' lists the candidates.

The search is fed what it reads on a real machine, faked at the lowest level: a directory of device nodes with a
``by-id`` directory of udev-style symlinks into it (in tmp_path), and devices with evdev ``InputDevice``'s
attributes (``path``, ``name``, ``info`` as a real ``evdev.DeviceInfo``, ``capabilities()``, ``grab()``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

evdev = pytest.importorskip("evdev")
from evdev import DeviceInfo, ecodes  # noqa: E402

from lerobot_recap.teleoperators.foot_pedal import FootPedal, FootPedalConfig  # noqa: E402
from lerobot_recap.teleoperators.foot_pedal.foot_pedal import find_pedal_device  # noqa: E402
from lerobot_recap.teleoperators.foot_pedal.pedal_reader import PedalNotFoundError  # noqa: E402

USB_BUS = 0x03
KEYS_ABC = [ecodes.KEY_A, ecodes.KEY_B, ecodes.KEY_C]


class FakeInputDevice:
    """What find_pedal_device reads from an ``evdev.InputDevice``."""

    def __init__(self, path: str, name: str, vendor: int, product: int, keys: list[int], grab_error: bool = False):
        self.path = path
        self.name = name
        self.info = DeviceInfo(USB_BUS, vendor, product, 0x0110)
        self._keys = keys
        self._grab_error = grab_error
        self.grabbed = False
        self.closed = False

    def capabilities(self, verbose: bool = False) -> dict[int, list[int]]:
        caps = {ecodes.EV_SYN: [ecodes.SYN_REPORT]}
        if self._keys:
            caps[ecodes.EV_KEY] = list(self._keys)
        return caps

    def grab(self) -> None:
        if self._grab_error:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.grabbed = True

    def close(self) -> None:
        self.closed = True

    def read_one(self):
        return None


class FakeInputDir:
    """A /dev/input look-alike in tmp_path: eventN nodes, by-id links, and the devices behind them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_id = root / "by-id"
        self.by_id.mkdir(parents=True)
        self.devices: dict[str, FakeInputDevice] = {}
        self.unreadable: set[str] = set()
        self.opened: list[str] = []

    def add(self, n: int, name: str, usb_id: str, keys=KEYS_ABC, by_id: str | None = None, **kwargs) -> FakeInputDevice:
        node = self.root / f"event{n}"
        node.touch()
        vendor, product = (int(x, 16) for x in usb_id.split(":"))
        device = FakeInputDevice(str(node), name, vendor, product, keys, **kwargs)
        self.devices[str(node)] = device
        if by_id:
            (self.by_id / by_id).symlink_to(f"../event{n}")  # relative, as udev writes them
        return device

    def list_paths(self) -> list[str]:
        return sorted(str(p) for p in self.root.glob("event*"))

    def open(self, path: str) -> FakeInputDevice:
        real = os.path.realpath(path)
        self.opened.append(path)
        if real in self.unreadable:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        if real not in self.devices:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return self.devices[real]

    def find(self, **config_fields) -> FakeInputDevice:
        config = FootPedalConfig(**config_fields)
        return find_pedal_device(config, list_paths=self.list_paths, open_device=self.open, by_id_dir=self.by_id)


@pytest.fixture
def machine(tmp_path) -> FakeInputDir:
    """A keyboard, a mouse, and an iKKEGOL pedal exposing keyboard, mouse and raw HID nodes."""
    inputs = FakeInputDir(tmp_path / "input")
    inputs.add(0, "AT Translated Set 2 keyboard", "0001:0001", keys=list(range(1, 120)))
    inputs.add(1, "Logitech USB Optical Mouse", "046d:c077", keys=[ecodes.BTN_LEFT, ecodes.BTN_RIGHT],
               by_id="usb-Logitech_USB_Optical_Mouse-event-mouse")
    inputs.add(5, "PCsensor FootSwitch Mouse", "3553:b001", keys=[ecodes.BTN_LEFT],
               by_id="usb-PCsensor_FootSwitch-if01-event-mouse")
    inputs.add(6, "PCsensor FootSwitch", "3553:b001", keys=KEYS_ABC)
    inputs.add(7, "PCsensor FootSwitch Keyboard", "3553:b001", keys=KEYS_ABC,
               by_id="usb-PCsensor_FootSwitch-event-kbd")
    return inputs


def test_by_vendor_product_prefers_the_keyboard_node_and_grabs_it(machine):
    device = machine.find(usb_id="3553:b001")
    assert device.name == "PCsensor FootSwitch Keyboard" and device.grabbed
    # Every other node that was opened during the search is closed again.
    assert machine.devices[str(machine.root / "event6")].closed
    assert not device.closed


def test_by_vendor_product_other_model(machine):
    machine.add(9, "HID 1a86:e026", "1a86:e026", keys=KEYS_ABC)
    assert machine.find(usb_id="1a86:e026").path.endswith("event9")


def test_a_node_without_the_intervention_key_is_skipped(machine):
    # Programmed as mouse buttons, the pedal sends BTN_LEFT on its mouse node: only that node has the key.
    assert machine.find(usb_id="3553:b001", intervention_key="BTN_LEFT", pause_key="BTN_RIGHT").path.endswith("event5")


def test_by_id_path_absolute_and_bare_name(machine):
    link = machine.by_id / "usb-PCsensor_FootSwitch-event-kbd"
    assert machine.find(device_path=str(link)).name == "PCsensor FootSwitch Keyboard"
    assert machine.opened[-1] == str(link)  # opened through the stable name, not a guessed eventN
    assert machine.find(device_path="usb-PCsensor_FootSwitch-event-kbd").path.endswith("event7")


def test_by_name_substring_matches_device_names_and_by_id_names(machine):
    machine.add(8, "Scythe USB Foot Switch", "0426:3011", keys=KEYS_ABC, by_id="usb-Scythe_FootSw-event-kbd")
    assert machine.find(usb_id="0000:0000", name_contains="scythe usb").path.endswith("event8")
    assert machine.find(usb_id="0000:0000", name_contains="Scythe_FootSw").path.endswith("event8")


def test_an_id_match_wins_over_a_name_match(machine):
    machine.add(8, "Another FootSwitch Keyboard", "0426:3011", keys=KEYS_ABC)
    assert machine.find(usb_id="3553:b001", name_contains="footswitch").path.endswith("event7")


def test_not_found_lists_every_candidate_and_the_fix(machine):
    machine.unreadable.add(str(machine.root / "event0"))
    with pytest.raises(PedalNotFoundError) as info:
        machine.find(usb_id="1a86:e026")
    message = str(info.value)
    assert "no foot pedal 1a86:e026 with key KEY_B" in message
    assert f"{machine.root / 'event0'} (cannot open: Permission denied)" in message
    assert "'PCsensor FootSwitch Keyboard' 3553:b001" in message
    assert "by-id/usb-PCsensor_FootSwitch-event-kbd" in message
    assert "'Logitech USB Optical Mouse' 046d:c077, lacks the key" in message
    assert "device_path" in message and "usermod -aG input" in message
    assert all(device.closed for path, device in machine.devices.items() if path not in machine.unreadable)


def test_a_matching_pedal_with_the_wrong_key_is_named_in_the_error(machine):
    with pytest.raises(PedalNotFoundError, match=r"'PCsensor FootSwitch Keyboard' 3553:b001, lacks the key"):
        machine.find(usb_id="3553:b001", intervention_key="KEY_X", pause_key="KEY_A")


def test_no_devices_at_all(tmp_path):
    empty = FakeInputDir(tmp_path / "input")
    with pytest.raises(PedalNotFoundError, match=r"\(none readable\)"):
        empty.find()


def test_missing_by_id_path_lists_the_by_id_names(machine):
    with pytest.raises(PedalNotFoundError, match="usb-PCsensor_FootSwitch-event-kbd") as info:
        machine.find(device_path=str(machine.by_id / "usb-iKKEGOL-event-kbd"))
    assert "plugged in" in str(info.value)


def test_unreadable_by_id_path_says_how_to_get_permission(machine):
    machine.unreadable.add(str(machine.root / "event7"))
    with pytest.raises(PermissionError, match="udev rule"):
        machine.find(device_path=str(machine.by_id / "usb-PCsensor_FootSwitch-event-kbd"))


def test_a_pedal_held_by_another_process_is_a_clear_error(machine):
    machine.devices[str(machine.root / "event7")]._grab_error = True
    with pytest.raises(OSError, match="another process holds it.*grab=false"):
        machine.find(usb_id="3553:b001")
    assert machine.find(usb_id="3553:b001", grab=False).path.endswith("event7")


def test_the_teleop_connects_through_the_search(machine, tmp_path):
    config = FootPedalConfig(usb_id="3553:b001", calibration_dir=tmp_path)
    pedal = FootPedal(
        config,
        device_factory=lambda: find_pedal_device(
            config, list_paths=machine.list_paths, open_device=machine.open, by_id_dir=machine.by_id
        ),
    )
    pedal.connect()
    assert pedal.is_connected and pedal.is_calibrated
    assert machine.devices[str(machine.root / "event7")].grabbed
    pedal.disconnect()
    assert machine.devices[str(machine.root / "event7")].closed
