"""What a test needs from the machine (a binary, a server): missing, the test skips, except
under CI (``CI=true``), where a missing component fails the test: a CI run never passes
with tests skipped."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it under CI."""
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: a missing component fails the run)", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, *fallbacks: str) -> str:
    """The path of the executable ``name`` (on PATH, else the first existing ``fallbacks``,
    e.g. /usr/sbin for a normal user); missing, see :func:`missing`."""
    path = shutil.which(name) or next((p for p in fallbacks if os.path.exists(p)), None)
    if not path:
        missing(f"{name} is not installed (make test installs it)")
    return path
