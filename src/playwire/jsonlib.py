"""JSON for the wire: orjson where it exists (CPython), the standard library otherwise.

orjson refuses to write integers beyond 64 bits and to read NaN; rather than let such a
payload break the sender's connection, those cases fall back to the standard library, so
the usual validation answers them like any other event. Both read an integer beyond 64 bits
as a float.
"""

from __future__ import annotations

import json as _json
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # PyPy: orjson is CPython-only
    _orjson = None


def _int_as_orjson_reads_it(text: str) -> int | float:
    """Integers beyond 64 bits become floats, as orjson (and JavaScript) read them, so that
    a payload means the same on every runtime."""
    value = int(text)
    return value if -(2**63) <= value < 2**64 else float(text)


def _std_dumps(obj: Any) -> str:
    return _json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any, **_ignored: Any) -> str:
    """Compact JSON text; keyword arguments of ``json.dumps`` are accepted and ignored."""
    if _orjson is not None:
        try:
            return _orjson.dumps(obj).decode()
        except TypeError:
            pass
    return _std_dumps(obj)


def dumpb(obj: Any) -> bytes:
    """Compact JSON as UTF-8 bytes: :func:`dumps`, for what goes out as it is (a publish)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(obj)
        except TypeError:
            pass
    return _std_dumps(obj).encode()


def loads(text: str | bytes, **_ignored: Any) -> Any:
    """Parse JSON text; keyword arguments of ``json.loads`` are accepted and ignored."""
    if _orjson is not None:
        try:
            return _orjson.loads(text)
        except _orjson.JSONDecodeError:
            pass
    return _json.loads(text, parse_int=_int_as_orjson_reads_it)


def encoded_size(obj: Any) -> int:
    """Bytes of ``obj`` as compact UTF-8 JSON: what the payload limit counts."""
    if _orjson is not None:
        try:
            return len(_orjson.dumps(obj))
        except TypeError:
            pass
    return len(_std_dumps(obj).encode())
