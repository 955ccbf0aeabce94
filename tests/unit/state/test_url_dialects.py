"""Database URLs: which dialect each names, and the driver pmpc spells for PostgreSQL."""

from __future__ import annotations

import pytest

from proxmox_mpc.state.db import dialect_of, normalise_url


@pytest.mark.parametrize(
    ("url", "dialect", "normal"),
    [
        ("sqlite:////tmp/x.db", "sqlite", "sqlite:////tmp/x.db"),
        ("postgresql://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
    ],
)
def test_url_dialects(url, dialect, normal):
    assert dialect_of(url) == dialect
    assert normalise_url(url) == normal
