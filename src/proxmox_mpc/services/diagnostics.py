"""The `pmpc debug` report: versions, platform, context (secrets redacted), connectivity, TLS, state store."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.metadata
import os
import platform
import socket
import ssl
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import Field

from proxmox_mpc.config import SECRET_FIELDS, environ, redact_url
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import UtcTime
from proxmox_mpc.errors import PmpcError

DEPENDENCIES = (
    "typer",
    "httpx",
    "aiohttp",
    "pydantic",
    "pydantic-settings",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "prompt-toolkit",
    "jinja2",
)


class StateStoreInfo(Model):
    """Where the state store is (password redacted), whether it opens, and its migration level."""

    available: bool = True
    reachable: bool = False
    url: str | None = None
    revision: str | None = None
    head: str | None = None
    message: str = ""


class TlsInfo(Model):
    """What the server's certificate looked like and whether pmpc's settings accept it."""

    fingerprint: str | None = None
    pinned: str | None = None
    pin_matches: bool | None = None
    verified: bool | None = None
    verify_error: str | None = None
    subject: str | None = None
    issuer: str | None = None
    not_after: UtcTime | None = None
    protocol: str | None = None


class Connectivity(Model):
    """TCP and TLS reachability of the API endpoint, and what /version answered."""

    endpoint: str | None = None
    tcp: str = "not checked"
    tcp_ms: float | None = None
    tls: TlsInfo = Field(default_factory=TlsInfo)
    api: str = "not checked"
    api_ms: float | None = None
    api_version: dict[str, Any] = Field(default_factory=dict)


class DebugReport(Model):
    """Everything `pmpc debug` prints; no secret ever enters it."""

    pmpc_version: str
    python: str
    platform: str
    dependencies: dict[str, str]
    workspace: dict[str, Any]
    context: dict[str, Any]
    environment: list[str]
    connectivity: Connectivity
    state_store: StateStoreInfo


def _dependency_versions() -> dict[str, str]:
    versions = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _workspace(app_ctx: AppContext) -> dict[str, Any]:
    ws = app_ctx.workspace
    if ws is None:
        return {"path": None, "note": "not in a workspace: imperative commands use the per-user state"}
    resources = ws / "resources"
    manifests = sorted(resources.rglob("*.y*ml")) if resources.is_dir() else []
    return {
        "path": str(ws),
        "pmpc_yaml": (ws / "pmpc.yaml").is_file(),
        "manifests": len(manifests),
        "generated": sorted(d for d in ("terraform", "ansible", "tests") if (ws / d).is_dir()),
        "state_db": (ws / ".pmpc" / "state.db").is_file(),
    }


def _context(app_ctx: AppContext) -> dict[str, Any]:
    try:
        data = app_ctx.settings.redacted()
    except PmpcError as exc:
        return {"error": exc.message}
    data["insecure_flag"] = app_ctx.insecure
    data["tls"] = tls_summary(app_ctx)
    return data


def tls_summary(app_ctx: AppContext) -> str:
    """Return how the server's identity is checked, shouting when it is not (status, health, debug)."""
    from proxmox_mpc.config import tls_off_reason

    settings = app_ctx.settings
    reason = tls_off_reason(settings, app_ctx.insecure)
    if reason is not None:
        return f"INSECURE: verification off ({reason})"
    if settings.fingerprint:
        return "verified (pinned fingerprint)"
    return f"verified (CA file {settings.ca_file})" if settings.ca_file else "verified (system CAs)"


def _environment() -> list[str]:
    """Names (never values) of the PMPC_* variables that are set."""
    return sorted(k for k in environ() if k.startswith("PMPC_"))


# ----------------------------------------------------------------------------- state store


def _sqlite_missing(url: str) -> Path | None:
    """Return the file of a SQLite URL that does not exist yet (opening it would create it)."""
    from proxmox_mpc.state.db import dialect_of

    if dialect_of(url) != "sqlite" or ":///" not in url:
        return None
    path = url.split(":///", 1)[1]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return None if Path(path).exists() else Path(path)


def state_store_info(app_ctx: AppContext) -> StateStoreInfo:
    """Report where the state store is and its migration level; never raises, never creates a database."""
    try:
        from proxmox_mpc.services.database import database_url
        from proxmox_mpc.state import migrations
        from proxmox_mpc.state.store import open_store
    except ImportError:
        return StateStoreInfo(available=False, message="The state store is unavailable in this pmpc build.")
    info = StateStoreInfo()
    try:
        url = database_url(app_ctx)
        info = StateStoreInfo(url=redact_url(url), head=migrations.head_revision())
        missing = _sqlite_missing(url)
        if missing is not None:
            info.reachable = True
            info.message = f"No state database yet at {missing}: the first `pmpc sync` creates it."
            return info
        store = open_store(url, upgrade=False)
        try:
            info.revision = store.revision()
        finally:
            store.close()
    except PmpcError as exc:
        info.message = f"The state store cannot be opened: {exc.message}"
        return info
    except Exception as exc:  # a driver error: the report must still be written (its text may hold the URL)
        info.message = f"The state store cannot be opened ({type(exc).__name__})."
        return info
    info.reachable = True
    if info.revision is None:
        info.message = f"The state database {info.url} is empty: pmpc migrates it on first use."
    elif info.revision != info.head:
        info.message = (
            f"The state database is at migration {info.revision}, head is {info.head}: "
            "run `pmpc state upgrade`."
        )
    else:
        info.message = f"The state database {info.url} is reachable and at migration {info.revision} (head)."
    return info


# ----------------------------------------------------------------------------- connectivity


def _cert_name(parts: Any) -> str | None:
    if not parts:
        return None
    return ", ".join(f"{k}={v}" for rdn in parts for k, v in rdn)


async def _handshake(host: str, port: int, context: ssl.SSLContext, timeout: float) -> ssl.SSLObject:
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if context.check_hostname else None
        ),
        timeout,
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None:  # pragma: no cover - open_connection with ssl always has one
            raise ssl.SSLError("no TLS session")
        return ssl_object
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


async def check_tls(host: str, port: int, ca_file: str | None, pinned: str | None, timeout: float) -> TlsInfo:
    """Fetch the server certificate (unverified), then verify it as pmpc's settings would."""
    info = TlsInfo(pinned=pinned)
    raw = ssl.create_default_context()
    raw.check_hostname = False
    raw.verify_mode = ssl.CERT_NONE
    try:
        ssl_object = await _handshake(host, port, raw, timeout)
    except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
        info.verify_error = f"TLS handshake failed: {type(exc).__name__}: {exc}"
        return info
    der = ssl_object.getpeercert(binary_form=True) or b""
    digest = hashlib.sha256(der).hexdigest().upper()
    info.fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    info.protocol = ssl_object.version()
    if pinned:
        info.pin_matches = pinned.upper() == info.fingerprint
    try:
        verifying = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        info.verified = False
        reason = "it holds no PEM certificate" if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
        info.verify_error = f"CA file {ca_file}: {reason}"
        return info
    try:
        checked = await _handshake(host, port, verifying, timeout)
    except ssl.SSLCertVerificationError as exc:
        info.verified = False
        info.verify_error = exc.verify_message or str(exc)
        return info
    except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
        info.verified = False
        info.verify_error = f"{type(exc).__name__}: {exc}"
        return info
    info.verified = True
    cert = checked.getpeercert() or {}
    info.subject = _cert_name(cert.get("subject"))
    info.issuer = _cert_name(cert.get("issuer"))
    not_after = cert.get("notAfter")
    # OpenSSL spells it `Jan  1 00:00:00 2030 GMT`; pmpc's JSON spells every time in RFC 3339.
    if isinstance(not_after, str):
        info.not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), tz=timezone.utc)
    return info


async def check_connectivity(app_ctx: AppContext) -> Connectivity:
    """Check TCP, TLS and the API in turn, recording how far it got."""
    result = Connectivity()
    try:
        settings = app_ctx.settings
        endpoint = settings.base_url
    except PmpcError as exc:
        result.tcp = f"not checked: {exc.message}"
        return result
    result.endpoint = endpoint
    host, port = settings.host or "", settings.port
    started = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), settings.timeout)
        writer.close()
        result.tcp = "ok"
        result.tcp_ms = round((time.perf_counter() - started) * 1000, 1)
    except (OSError, asyncio.TimeoutError, socket.gaierror) as exc:
        result.tcp = f"failed: {type(exc).__name__}: {exc}"
        return result
    result.tls = await check_tls(host, port, settings.ca_file, settings.fingerprint, settings.timeout)
    from proxmox_mpc.services.connection import connect

    started = time.perf_counter()
    try:
        async with connect(app_ctx) as api:
            api.retries = 0
            result.api_version = await api.version()
        result.api = "ok"
        result.api_ms = round((time.perf_counter() - started) * 1000, 1)
    except PmpcError as exc:
        result.api = f"failed: {exc.message}"
    return result


async def build_report(app_ctx: AppContext) -> DebugReport:
    """Collect the diagnostics report; parts that cannot be reached say why instead of failing."""
    from proxmox_mpc.version import describe_version

    connectivity = await check_connectivity(app_ctx)
    return DebugReport(
        pmpc_version=describe_version(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=platform.platform(),
        dependencies=_dependency_versions(),
        workspace=_workspace(app_ctx),
        context=_context(app_ctx),
        environment=_environment(),
        connectivity=connectivity,
        state_store=state_store_info(app_ctx),
    )


def render_text(report: DebugReport) -> str:
    """Render the report as the plain text `pmpc debug` prints."""
    lines = ["# pmpc debug report", ""]

    def section(title: str, values: dict[str, Any]) -> None:
        lines.append(f"## {title}")
        for key, value in values.items():
            if isinstance(value, dict):
                lines.append(f"{key}:")
                for sub, subvalue in value.items():
                    lines.append(f"  {sub}: {_plain(subvalue)}")
            else:
                lines.append(f"{key}: {_plain(value)}")
        lines.append("")

    section(
        "Versions",
        {
            "pmpc": report.pmpc_version,
            "python": report.python,
            "platform": report.platform,
            "dependencies": report.dependencies,
        },
    )
    section("Workspace", report.workspace)
    section("Context (secrets redacted)", report.context)
    section("Environment (names only)", {"PMPC_*": ", ".join(report.environment) or "none"})
    conn = report.connectivity.model_dump(mode="json")
    tls = conn.pop("tls")
    section("Connectivity", conn)
    section("TLS", tls)
    section("State store", report.state_store.model_dump(mode="json"))
    return "\n".join(lines).rstrip("\n") + "\n"


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def write_report_file(path: Path, text: str) -> Path:
    """Write a report file (owner-only: it describes the installation) and return its absolute path."""
    from proxmox_mpc.config import write_private

    # Absolute but not resolved: a symlink at the target is refused, never followed.
    target = Path(os.path.abspath(path.expanduser()))
    write_private(target, text)
    return target


def secret_values(app_ctx: AppContext) -> list[str]:
    """Return the configured secret values, so a report can prove none of them slipped in."""
    try:
        settings = app_ctx.settings
    except PmpcError:
        return []
    values = []
    for name in SECRET_FIELDS:
        secret = getattr(settings, name, None)
        if secret is not None:
            text = secret.get_secret_value()
            if text:
                values.append(text)
    if settings.database_url:
        from urllib.parse import urlsplit

        password = urlsplit(settings.database_url).password
        if password:
            values.append(password)
    return values


# ----------------------------------------------------------------------------- state store reads


def _open_for_reading(app_ctx: AppContext) -> tuple[Any, str] | None:
    """Return (store, cluster key) when a current state database exists, else None."""
    try:
        from proxmox_mpc.services.database import cluster_key, open_store_readonly
    except ImportError:
        return None
    store = open_store_readonly(app_ctx)
    if store is None:
        return None
    try:
        return store, cluster_key(app_ctx)
    except BaseException:
        store.close()
        raise


def known_names(app_ctx: AppContext) -> dict[str, list[str]]:
    """Return the names the state store knows: vm, ct, guests (names, VMIDs), nodes, storages, tags, pools."""
    from proxmox_mpc.services.completion import load_names

    return load_names(app_ctx)


def _upid_node(upid: str | None) -> str | None:
    from proxmox_mpc.core.upid import parse_upid
    from proxmox_mpc.errors import UsageError

    try:
        return parse_upid(upid).node if upid else None
    except UsageError:
        return None


JOURNAL_STATUS = {
    "ok": "ok",
    "done": "ok",
    "success": "ok",
    "succeeded": "ok",
    "applied": "ok",
    "skipped": "skipped",
    "failed": "error",
    "error": "error",
    "running": "running",
    "started": "running",
    "pending": "running",
}


def read_journal(
    app_ctx: AppContext, since: Any = None, runs: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """Return the actions journalled by the last apply runs (since a time), and a warning when unreadable."""
    try:
        opened = _open_for_reading(app_ctx)
    except PmpcError as exc:
        return [], f"pmpc's own journal is not shown: {exc.message}"
    if opened is None:
        return [], None
    store, cluster = opened
    rows: list[dict[str, Any]] = []
    try:
        for run in store.apply_runs(cluster, limit=runs):
            if since is not None and run.finished_at is not None and run.finished_at < since:
                continue
            entries = store.journal(run.id)
            # A step's `started` row (the UPID journaled before waiting) matters only while it has no end.
            ended = {(e.address, e.action, e.upid) for e in entries if e.upid and e.status != "started"}
            for entry in entries:
                if since is not None and entry.at < since:
                    continue
                if entry.status == "started" and (not entry.upid or (entry.address, entry.action, entry.upid) in ended):
                    continue
                rows.append(
                    {
                        "time": entry.at,
                        "type": f"apply:{entry.action}",
                        "target": entry.address,
                        "status": JOURNAL_STATUS.get(entry.status.lower(), entry.status.lower()),
                        "message": entry.detail,
                        "upid": entry.upid,
                        "node": _upid_node(entry.upid),
                        "user": "pmpc",
                    }
                )
    except PmpcError as exc:
        return [], f"pmpc's own journal is not shown: {exc.message}"
    finally:
        store.close()
    return rows, None
