"""A migrated Store on SQLite and on PostgreSQL for every store test (the same suite runs on both)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxmox_mpc.state.store import Store, open_store


@pytest.fixture
def store(state_url: str) -> Iterator[Store]:
    opened = open_store(state_url)
    try:
        yield opened
    finally:
        opened.close()
