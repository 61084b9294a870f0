"""openpi's msgpack encoding of numpy values, written from its wire layout (``openpi_client.msgpack_numpy``).

An array travels as a msgpack map with *binary* (``bytes``) keys, in this order::

    {b"__ndarray__": True, b"data": <raw bytes, C order>, b"dtype": <numpy dtype.str, e.g. "<f4", "|u1">,
     b"shape": [d0, d1, ...]}

and a numpy scalar as ``{b"__npgeneric__": True, b"data": <the Python value>, b"dtype": <dtype.str>}``. Everything
else is plain msgpack (``use_bin_type``: ``str`` as str, ``bytes`` as bin); no ext types. Object, void and complex
dtypes are refused both ways. PyPI's ``msgpack-numpy`` uses other keys (``b"nd"``, ``b"type"``, ...) and does not
interoperate, which is why this module exists. msgpack is imported on first use, so that importing the package stays
cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

REFUSED_DTYPE_KINDS = ("V", "O", "c")
"""void (structured), object and complex: openpi refuses them; object arrays could not be rebuilt from bytes."""

NDARRAY_KEY = b"__ndarray__"
NPGENERIC_KEY = b"__npgeneric__"


class DecodeError(ValueError):
    """A frame that is not valid msgpack, or an array record that does not describe an array."""


def _check_dtype(dtype: np.dtype) -> None:
    if dtype.kind in REFUSED_DTYPE_KINDS:
        raise ValueError(f"numpy dtype {dtype} is not sent over the openpi protocol (kinds V, O and c are refused)")


def encode_numpy(obj: Any) -> Any:
    """msgpack's ``default`` hook: numpy arrays and scalars to openpi's records, anything else unchanged."""
    if isinstance(obj, np.ndarray):
        _check_dtype(obj.dtype)
        return {NDARRAY_KEY: True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        _check_dtype(obj.dtype)
        return {NPGENERIC_KEY: True, b"data": obj.item(), b"dtype": obj.dtype.str}
    # msgpack calls the hook only for types it cannot pack itself; say which one instead of its generic TypeError.
    raise TypeError(f"cannot pack a {type(obj).__name__} with openpi's msgpack encoding")


def decode_numpy(record: dict) -> Any:
    """msgpack's ``object_hook``: openpi's records back to numpy (arrays are read-only views of the frame)."""
    if NDARRAY_KEY in record:
        try:
            dtype = np.dtype(record[b"dtype"])
            _check_dtype(dtype)
            return np.ndarray(buffer=record[b"data"], dtype=dtype, shape=tuple(record[b"shape"]))
        except (KeyError, TypeError, ValueError) as err:
            raise DecodeError(f"malformed __ndarray__ record: {err}") from err
    if NPGENERIC_KEY in record:
        try:
            dtype = np.dtype(record[b"dtype"])
            _check_dtype(dtype)
            return dtype.type(record[b"data"])
        except (KeyError, TypeError, ValueError) as err:
            raise DecodeError(f"malformed __npgeneric__ record: {err}") from err
    return record


def packb(obj: Any) -> bytes:
    """One value (typically a dict) as openpi's msgpack bytes."""
    import msgpack

    return msgpack.packb(obj, default=encode_numpy, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    """openpi's msgpack bytes back to Python values with numpy arrays; any malformation is a :class:`DecodeError`."""
    import msgpack

    try:
        return msgpack.unpackb(data, object_hook=decode_numpy)
    except DecodeError:
        raise
    except (ValueError, TypeError, msgpack.exceptions.ExtraData, msgpack.exceptions.UnpackException) as err:
        # ExtraData, FormatError and StackError subclass ValueError; a truncated frame raises ValueError too.
        raise DecodeError(f"not an openpi msgpack frame ({type(err).__name__}: {err})") from err
