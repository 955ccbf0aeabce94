"""The console loop (being written)."""

from typing import Any


def run(app_ctx: Any, app: Any) -> None:
    raise NotImplementedError
