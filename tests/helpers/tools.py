"""External tools the tests run (terraform, gofmt, node, jest): skipped where missing, except in CI.

.ci/run installs every one of them, so under CI a missing tool fails the test rather than skipping it.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test saying why; with CI set, fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install it (see .ci/run)")
    pytest.skip(reason)


def require_binary(name: str, purpose: str) -> str:
    """The path of `name` on the PATH, or skip (fail in CI): '<name> is not installed: <purpose>'."""
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed: {purpose}")
    return found
