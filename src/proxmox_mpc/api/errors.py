"""Turn httpx exceptions and Proxmox error answers into pmpc's error tree (the only place that does)."""

from __future__ import annotations

import re
import ssl
from typing import Any, Protocol

import httpx

from proxmox_mpc.errors import (
    ApiConflict,
    ApiError,
    ApiNotFound,
    AuthError,
    ConnectionFailed,
    LockedError,
    OperationTimeout,
    PmpcError,
)

# Transient lock errors: another task holds the guest's config lock for a moment.
LOCK_PATTERNS = (
    re.compile(r"can't lock file .* got timeout", re.I),
    re.compile(r"\bVM is locked\b", re.I),
    re.compile(r"\bCT is locked\b", re.I),
    re.compile(r"\bis locked \(", re.I),
    re.compile(r"trying to acquire lock", re.I),
)
# qemu-server words a digest mismatch "checksum mismatch (file change by other user?)".
DIGEST_PATTERN = re.compile(
    r"(detected modified configuration|digest|checksum mismatch|file changed? by other user)", re.I
)
NOT_FOUND_PATTERN = re.compile(
    r"(does not exist|no such (vm|ct|node|storage|task|file|volume)|not found)", re.I
)
NOT_IMPLEMENTED_PATTERN = re.compile(r"not implemented|does not exist|no such|not found", re.I)
LOCK_NAME_PATTERN = re.compile(r"is locked \((\w+)\)", re.I)


def is_lock_error(exc: BaseException) -> bool:
    """Return True for a transient lock error worth retrying within the timeout."""
    return isinstance(exc, LockedError) or (isinstance(exc, ApiConflict) and _matches_lock(exc.message))


def _matches_lock(message: str) -> bool:
    return any(p.search(message) for p in LOCK_PATTERNS)


def lock_name(message: str) -> str | None:
    """Return the lock named in a Proxmox message (`VM is locked (backup)` -> backup)."""
    match = LOCK_NAME_PATTERN.search(message)
    return match.group(1) if match else None


class Reply(Protocol):
    """What error_from_response reads of an answer: an httpx.Response, or the client's lean `Answer`."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


def _body(response: Reply) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_from_response(response: Reply, what: str) -> ApiError:
    """Build the ApiError for a non-2xx Proxmox answer to `what` (e.g. `GET /nodes`)."""
    status = response.status_code
    body = _body(response)
    reason = (response.reason_phrase or "").strip()
    message = str(body.get("message") or "").strip() or reason
    if not message:
        message = response.text.strip().splitlines()[0] if response.text.strip() else f"HTTP {status}"
    field_errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    field_errors = {str(k): str(v).strip() for k, v in (field_errors or {}).items()}
    sentence = message.rstrip(".")
    if field_errors:
        sentence += ": " + "; ".join(f"{k}: {v}" for k, v in sorted(field_errors.items()))
    text = f"{what} failed: {sentence}"
    cls: type[ApiError]
    if status == 401:
        cls = AuthError
        text = f"Authentication failed ({message.rstrip('.')}): check the token or password of this context"
    elif status == 403:
        cls = AuthError
        text = f"Permission denied for {what}: {sentence}"
    elif status == 404 or (status == 501 and NOT_IMPLEMENTED_PATTERN.search(message)):
        # PVE answers a path it does not have (an older release's API) with 501 "not implemented".
        cls = ApiNotFound
    elif status == 500 and NOT_FOUND_PATTERN.search(message):
        cls = ApiNotFound
    elif _matches_lock(message):
        cls = LockedError
    elif status in (409, 500) and DIGEST_PATTERN.search(message):
        cls = ApiConflict
    else:
        cls = ApiError
    text += "" if text.endswith(".") else "."
    if cls is LockedError:
        return LockedError(
            text, lock=lock_name(message), status=status, field_errors=field_errors, pve_message=message
        )
    return cls(text, status=status, field_errors=field_errors, pve_message=message)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        chain.append(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return chain


def error_from_exception(exc: BaseException, base_url: str) -> PmpcError:
    """Translate a transport exception (httpx or aiohttp underneath) into one clear error."""
    chain = _causes(exc)
    for item in chain:
        name = type(item).__name__
        if name == "ServerFingerprintMismatch":
            expected = _hex(getattr(item, "expected", b""))
            got = _hex(getattr(item, "got", b""))
            return ConnectionFailed(
                f"The certificate of {base_url} does not match the pinned fingerprint: "
                f"expected {expected}, got {got}. If the server's certificate really changed, "
                "pin the new one with `pmpc config set-context NAME --trust`.",
                details={"expected": expected, "got": got},
            )
        if isinstance(item, ssl.SSLCertVerificationError) or name == "ClientConnectorCertificateError":
            # aiohttp wraps the ssl error; its verify_message is the one readable reason.
            cert_error = getattr(item, "certificate_error", None) or item
            reason = (
                getattr(cert_error, "verify_message", None)
                or getattr(cert_error, "reason", None)
                or "certificate not trusted"
            )
            return ConnectionFailed(
                f"TLS verification of {base_url} failed ({reason}): pin its fingerprint with "
                "`pmpc config set-context NAME --trust`, give --ca-file, or use --insecure to skip checks.",
            )
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return OperationTimeout(
            f"{base_url} did not answer in time (raise PMPC_TIMEOUT to wait longer than one request allows)."
        )
    if any(isinstance(item, ConnectionRefusedError) for item in chain):
        return ConnectionFailed(f"Cannot connect to {base_url}: connection refused.")
    for item in chain:
        if isinstance(item, OSError | ConnectionError) and not isinstance(item, ssl.SSLError):
            detail = getattr(item, "strerror", None) or str(item) or type(item).__name__
            return ConnectionFailed(f"Cannot connect to {base_url}: {detail}.")
    detail = str(exc) or type(exc).__name__
    return ConnectionFailed(f"Cannot connect to {base_url}: {detail}.")


def _hex(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw) if raw else "unknown"
