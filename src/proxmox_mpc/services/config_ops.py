"""Context use cases: view, list, set, switch, rename and delete contexts; fetch a certificate fingerprint."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from proxmox_mpc.config import (
    CONTEXT_FIELDS,
    REDACTED,
    SECRET_FIELDS,
    ContextsFile,
    normalise_fingerprint,
    redact_url,
    settings_from_values,
)
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.errors import ConfigError, ConnectionFailed, NotFound, UsageError


class ContextSummary(Model):
    """One context of the contexts file, as `config get-contexts` lists it (no secrets)."""

    kind: str = "context"
    name: str
    current: bool
    host: str | None = None
    port: int | None = None
    auth: str
    user: str | None = None
    token_id: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    fingerprint: str | None = None
    pinned: bool = False
    read_only: bool = False


class SetContextResult(Model):
    """What `config set-context` did."""

    kind: str = "context"
    name: str
    path: str
    dry_run: bool = False
    created: bool
    current: bool
    fingerprint: str | None = None
    pinned: bool = False
    changed_fields: list[str]


def redact_context(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return a context's fields with every secret replaced."""
    out = dict(fields)
    for key in SECRET_FIELDS:
        if out.get(key):
            out[key] = REDACTED
    if out.get("database_url"):
        out["database_url"] = redact_url(str(out["database_url"]))
    return out


def view_contexts_file(path: Path | None = None) -> dict[str, Any]:
    """Return the contexts file as data, secrets redacted."""
    contexts = ContextsFile.load(path)
    return {
        "path": str(contexts.path),
        "current-context": contexts.current,  # spelled as the file spells it (kubeconfig's key)
        "contexts": {name: redact_context(fields) for name, fields in sorted(contexts.contexts.items())},
    }


def view_effective_settings(app_ctx: AppContext) -> dict[str, Any]:
    """Return the settings this invocation would use (every source merged), secrets redacted, and under
    `sources` which source won for each (`flag`, `environment (PMPC_PORT)`, `pmpc.yaml`, `context NAME`...).
    """
    from proxmox_mpc.config import setting_sources

    settings = app_ctx.settings.redacted()
    flags = {k: v for k, v in app_ctx.flags.items() if k in settings}
    sources = setting_sources(flags, app_ctx.workspace)
    return {**settings, "sources": {key: sources.get(key, "default") for key in settings}}


def _auth_of(fields: Mapping[str, Any]) -> str:
    if fields.get("token_id"):
        return "token"
    if fields.get("user"):
        return "password" if fields.get("password") else "password (not set)"
    return "none"


def list_contexts(path: Path | None = None) -> list[ContextSummary]:
    """Return every context of the contexts file, sorted by name, secrets left out."""
    contexts = ContextsFile.load(path)
    out = []
    for name, fields in sorted(contexts.contexts.items()):
        host, port = fields.get("host"), fields.get("port")
        try:
            parsed = settings_from_values({"host": host, "port": port})
            host, port = parsed.host, parsed.port
        except ConfigError:
            pass  # Listing shows the file as it is; a bad value fails the commands that use it.
        out.append(
            ContextSummary(
                name=name,
                current=name == contexts.current,
                host=host,
                port=int(port) if isinstance(port, int | str) and str(port).isdigit() else None,
                auth=_auth_of(fields),
                user=fields.get("user"),
                token_id=fields.get("token_id"),
                verify_tls=bool(fields.get("verify_tls", True)),
                ca_file=fields.get("ca_file"),
                fingerprint=fields.get("fingerprint"),
                pinned=bool(fields.get("fingerprint")),
                read_only=bool(fields.get("read_only", False)),
            )
        )
    return out


def use_context(name: str, path: Path | None = None, *, dry_run: bool = False) -> str:
    """Make a context the current one (on dry run: only check it exists); return its name.

    Raises:
        NotFound: no context has that name.
    """
    contexts = ContextsFile.load(path)
    contexts.get(name)
    if not dry_run:
        contexts.current = name
        contexts.save()
    return name


def current_context(path: Path | None = None) -> str:
    """Return the name of the current context.

    Raises:
        NotFound: the contexts file names no current context.
    """
    contexts = ContextsFile.load(path)
    if not contexts.current:
        raise NotFound(f"No current context is set in {contexts.path}: run `pmpc config use-context NAME`.")
    return contexts.current


def delete_context(name: str, path: Path | None = None, *, dry_run: bool = False) -> bool:
    """Delete a context (on dry run: only check it exists); return True when it was the current one.

    Raises:
        NotFound: no context has that name.
    """
    contexts = ContextsFile.load(path)
    was_current = contexts.current == name
    contexts.delete(name)
    if not dry_run:
        contexts.save()
    return was_current


def rename_context(old: str, new: str, path: Path | None = None, *, dry_run: bool = False) -> None:
    """Rename a context (on dry run: only check that it can be).

    Raises:
        NotFound: no context is named `old`.
        ConfigError: `new` is taken.
    """
    contexts = ContextsFile.load(path)
    contexts.rename(old, new)
    if not dry_run:
        contexts.save()


def read_secret(
    *, file: Path | None = None, stream: TextIO | None = None, what: str = "secret"
) -> str | None:
    """Read a secret from a file or a stream (its first line, without the newline); None if neither given.

    Raises:
        UsageError: both were given, or the source holds nothing.
        ConfigError: the file cannot be read.
    """
    if file is not None and stream is not None:
        raise UsageError(f"Give the {what} either from a file or from stdin, not both.")
    if file is None and stream is None:
        return None
    try:
        text = file.read_text(encoding="utf-8") if file is not None else (stream.read() if stream else "")
    except OSError as exc:
        raise ConfigError(f"Cannot read the {what} from {file}: {exc.strerror or exc}.") from exc
    lines = text.splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        source = str(file) if file is not None else "stdin"
        raise UsageError(f"The {what} from {source} is empty.")
    return secret


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    return str(exc.strerror or exc)


async def fetch_fingerprint(host: str, port: int, timeout: float = 10.0) -> str:
    """Connect over TLS without verifying and return the SHA-256 fingerprint of the server's certificate.

    Raises:
        ConnectionFailed: the server cannot be reached or does not speak TLS.
    """
    context = ssl.create_default_context()
    # Trust on first use: the point is to see the certificate we cannot verify yet.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    where = f"{host}:{port}"
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout
        )
    except asyncio.TimeoutError as exc:
        raise ConnectionFailed(f"Cannot connect to {where}: no answer within {timeout:g}s.") from exc
    except ssl.SSLError as exc:
        raise ConnectionFailed(f"{where} does not speak TLS ({exc.reason or exc}).") from exc
    except OSError as exc:
        raise ConnectionFailed(f"Cannot connect to {where}: {_os_reason(exc)}.") from exc
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
    if not der:
        raise ConnectionFailed(f"{where} sent no certificate.")
    return normalise_fingerprint(hashlib.sha256(der).hexdigest())


async def set_context(
    name: str,
    values: Mapping[str, Any],
    *,
    unset: tuple[str, ...] = (),
    trust: bool = False,
    dry_run: bool = False,
    path: Path | None = None,
) -> SetContextResult:
    """Create or update a context (validated), optionally pinning the server's fingerprint; save it 0600.

    On dry run everything is checked (and the fingerprint fetched) but nothing is written.

    Raises:
        UsageError: a field name is unknown, or --trust without a host.
        ConfigError: the resulting context is invalid.
        ConnectionFailed: --trust could not reach the server.
    """
    unknown = (set(values) | set(unset)) - set(CONTEXT_FIELDS)
    if unknown:
        raise UsageError(
            f"Unknown context field(s): {', '.join(sorted(unknown))} (known: {', '.join(CONTEXT_FIELDS)})."
        )
    given = {k: v for k, v in values.items() if v is not None}
    if given.get("fingerprint"):
        try:
            given["fingerprint"] = normalise_fingerprint(str(given["fingerprint"]))
        except ValueError as exc:
            raise UsageError(f"Invalid --fingerprint {given['fingerprint']!r}: {exc}.") from exc
    contexts = ContextsFile.load(path)
    created = name not in contexts.contexts
    merged = {**contexts.contexts.get(name, {}), **given}
    for key in unset:
        merged.pop(key, None)
    settings = settings_from_values({**merged, "context": name}, where=f"context {name!r}")
    fingerprint = None
    if trust:
        if not settings.host:
            raise UsageError(f"--trust needs a host: give --host, or set one on context {name!r} first.")
        fingerprint = await fetch_fingerprint(
            settings.host, settings.port, timeout=min(settings.timeout, 10.0)
        )
        given["fingerprint"] = fingerprint
        unset = tuple(k for k in unset if k != "fingerprint")
    contexts.set(name, given, unset=unset)
    if contexts.current is None:
        contexts.current = name
    if not dry_run:
        contexts.save()
    return SetContextResult(
        name=name,
        path=str(contexts.path),
        dry_run=dry_run,
        created=created,
        current=contexts.current == name,
        fingerprint=fingerprint,
        pinned=fingerprint is not None,
        changed_fields=sorted(set(given) | set(unset)),
    )
