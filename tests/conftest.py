"""Test isolation: every test gets its own config, cache and state directories and no PMPC_* leakage."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from tests.helpers.cluster import PASSWORD, TOKEN_ID, TOKEN_SECRET, populate
from tests.helpers.cluster_objects import enable_cluster_objects
from tests.helpers.runner import Result, invoke

# Property tests explore new examples on every developer run; CI replays the same ones, so a red CI
# is always reproducible (run with CI=1 to get its examples).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect `stress` tests unless the -m expression names them: they are repetitions, not skips."""
    if "stress" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("stress") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("stress")])
        items[:] = kept


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point XDG directories at tmp_path, drop PMPC_* and NO_COLOR, and work in an empty directory."""
    for key in list(os.environ):
        if key.startswith("PMPC_") or key in ("NO_COLOR",):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = home / name.lower()
        path.mkdir(parents=True)
        monkeypatch.setenv(name, str(path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work


@pytest.fixture
def cli() -> Any:
    """Run pmpc in-process: cli("vm", "list", "-o", "json") -> Result(exit_code, stdout, stderr)."""

    def run(*args: str) -> Result:
        return invoke(*args)

    return run


@pytest.fixture
def cluster(fakepve: Any, fakepve_cafile: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fixture cluster on a started fakepve, with PMPC_* pointing pmpc at it by API token.

    It stores backup jobs, HA resources and rules, users, groups, roles and ACLs (tests/helpers/
    cluster_objects.py): fakepve alone answers their lists with made-up entries every kind would import.
    """
    enable_cluster_objects(fakepve)
    populate(fakepve)
    monkeypatch.setenv("PMPC_HOST", fakepve.url)
    monkeypatch.setenv("PMPC_TOKEN_ID", TOKEN_ID)
    monkeypatch.setenv("PMPC_TOKEN_SECRET", TOKEN_SECRET)
    monkeypatch.setenv("PMPC_CA_FILE", fakepve_cafile)
    return fakepve


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh, empty state database on SQLite and on PostgreSQL; PMPC_DATABASE_URL points at it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state' / 'state.db'}"
        monkeypatch.setenv("PMPC_DATABASE_URL", url)
        yield url
        return
    from tests.helpers.postgres import require_server, schema_url

    with schema_url(require_server()) as url:
        monkeypatch.setenv("PMPC_DATABASE_URL", url)
        yield url


@pytest.fixture
def backup_cluster(cluster: Any) -> Any:
    """The fixture cluster on a fakepve whose vzdump stores a backup volume (see tests/helpers/backups.py)."""
    from tests.helpers.backups import enable_backups

    return enable_backups(cluster)


@pytest.fixture
def day2_cluster(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fixture cluster on the day-2 fake (tests/helpers/day2.py), pmpc logged in as root@pam by password.

    PVE lets only the root@pam user (not its API tokens) pass skiplock, which `vm unlock` needs.
    """
    from tests.helpers.day2 import enable_day2

    monkeypatch.delenv("PMPC_TOKEN_ID")
    monkeypatch.delenv("PMPC_TOKEN_SECRET")
    monkeypatch.setenv("PMPC_USER", "root@pam")
    monkeypatch.setenv("PMPC_PASSWORD", PASSWORD)
    return enable_day2(cluster)


@pytest.fixture
def demo(fakepve: Any, fakepve_cafile: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The demo cluster's guests (container 202 is proxy-1) on a started fakepve, PMPC_* pointing at it."""
    from tests.helpers.demo_guests import populate_demo

    enable_cluster_objects(fakepve)
    populate_demo(fakepve)
    monkeypatch.setenv("PMPC_HOST", fakepve.url)
    monkeypatch.setenv("PMPC_TOKEN_ID", TOKEN_ID)
    monkeypatch.setenv("PMPC_TOKEN_SECRET", TOKEN_SECRET)
    monkeypatch.setenv("PMPC_CA_FILE", fakepve_cafile)
    return fakepve
