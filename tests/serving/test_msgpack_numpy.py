"""openpi's msgpack layout for numpy values, byte for byte (openpi-client itself pins numpy<2, so it cannot be a
test dependency next to LeRobot 0.6; when it is importable the cross-check at the end runs against it too)."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from lerobot_recap.serving import msgpack_numpy
from lerobot_recap.serving.msgpack_numpy import DecodeError

# openpi_client.msgpack_numpy.packb({"a": np.array([[1, 2, 3]], dtype="<i2"), "b": np.float32(0.5)}), openpi-client
# 0.1.2: a str-keyed outer map; bin keys b"__ndarray__", b"data", b"dtype", b"shape" in that order; dtype.str as str;
# the shape as an array; the scalar as b"__npgeneric__" with its Python value (a double).
OPENPI_GOLDEN = bytes.fromhex(
    "82a16184c40b5f5f6e6461727261795f5fc3c40464617461c406010002000300c4056474797065a33c6932c4057368617065920103"
    "a16283c40d5f5f6e7067656e657269635f5fc3c40464617461cb3fe0000000000000c4056474797065a33c6634"
)


def test_bytes_equal_openpis_layout():
    value = {"a": np.array([[1, 2, 3]], dtype="<i2"), "b": np.float32(0.5)}
    assert msgpack_numpy.packb(value) == OPENPI_GOLDEN
    back = msgpack_numpy.unpackb(OPENPI_GOLDEN)
    assert back["a"].dtype == np.dtype("<i2") and back["a"].tolist() == [[1, 2, 3]]
    assert isinstance(back["b"], np.float32) and back["b"] == 0.5


def test_bytes_equal_the_layout_written_out_with_plain_msgpack():
    """The record openpi documents, built by hand, for every dtype a robot sends."""
    for array in (
        np.arange(14, dtype=np.float32),
        np.zeros((3, 224, 224), np.uint8),
        np.arange(6.0).reshape(2, 3).T,  # not C-contiguous: sent in C order, as ndarray.tobytes() gives
        np.array(True),
        np.arange(4, dtype=">i8"),
        np.zeros((0, 5), np.float16),
    ):
        record = {b"__ndarray__": True, b"data": array.tobytes(), b"dtype": array.dtype.str, b"shape": array.shape}
        expected = msgpack.packb({"x": record, "prompt": "hi", "k": [1, 2.5, None]}, use_bin_type=True)
        assert msgpack_numpy.packb({"x": array, "prompt": "hi", "k": [1, 2.5, None]}) == expected
        back = msgpack_numpy.unpackb(expected)["x"]
        assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)


def test_numpy_scalars_round_trip_with_their_dtype():
    for scalar in (np.int32(-7), np.uint8(255), np.bool_(True), np.float16(0.5), np.float32(0.25)):
        back = msgpack_numpy.unpackb(msgpack_numpy.packb(scalar))
        assert type(back) is type(scalar) and back == scalar
    # np.float64 subclasses Python's float, which msgpack packs natively (in openpi too): it comes back a float.
    assert msgpack_numpy.packb(np.float64(1.25)) == msgpack.packb(1.25)


@pytest.mark.parametrize("value", [np.array([1 + 2j]), np.array([object()], dtype=object), np.zeros(2, "V4"), np.complex64(1)])
def test_object_void_and_complex_are_refused(value):
    with pytest.raises(ValueError, match="refused"):
        msgpack_numpy.packb(value)


def test_malformed_frames_are_decode_errors():
    record = {b"__ndarray__": True, b"data": b"\x00" * 4, b"dtype": "<f4", b"shape": [3]}
    frames = {
        "not msgpack": b"\xc1\xc1\xc1",
        "truncated": msgpack_numpy.packb({"state": np.zeros(14, np.float32)})[:-7],
        "short buffer": msgpack.packb(record, use_bin_type=True),
        "object dtype": msgpack.packb({**record, b"dtype": "|O", b"shape": [0]}, use_bin_type=True),
        "missing field": msgpack.packb({b"__ndarray__": True, b"data": b""}, use_bin_type=True),
        "trailing bytes": msgpack_numpy.packb({"a": 1}) + b"\x00",
    }
    for name, frame in frames.items():
        with pytest.raises(DecodeError):
            msgpack_numpy.unpackb(frame)
        assert issubclass(DecodeError, ValueError), name


def test_pypi_msgpack_numpy_records_are_not_arrays():
    """PyPI's msgpack-numpy writes b"nd"/b"type"/b"kind": that is a different protocol, left as a plain map."""
    pypi_style = msgpack.packb({b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [2], b"data": b"\x00" * 8})
    assert isinstance(msgpack_numpy.unpackb(pypi_style), dict)


def test_decoded_arrays_are_views_of_the_frame():
    """Like openpi: zero-copy and read-only, so nothing downstream may write into them (the mapping copies)."""
    array = msgpack_numpy.unpackb(msgpack_numpy.packb(np.arange(5.0)))
    assert not array.flags.writeable


def test_against_openpi_client_when_installed():
    ref = pytest.importorskip("openpi_client.msgpack_numpy")
    value = {"state": np.arange(14, dtype=np.float32), "images": {"cam_high": np.ones((3, 8, 8), np.uint8)},
             "prompt": "p", "x": np.float64(2.0)}  # fmt: skip
    assert msgpack_numpy.packb(value) == ref.packb(value)
    back = ref.unpackb(msgpack_numpy.packb(value))
    assert np.array_equal(back["images"]["cam_high"], value["images"]["cam_high"])
