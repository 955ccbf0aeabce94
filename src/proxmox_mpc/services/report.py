"""`pmpc report-issue`: an anonymised bug report, and the small error log pmpc keeps for it."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from proxmox_mpc.config import REDACTED, user_state_dir, write_private
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import is_api_guest_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.errors import FileWriteError, PmpcError

ISSUES_URL = "https://github.com/proxmox-mpc/proxmox-mpc/issues/new"
ERROR_LOG = "errors.jsonl"
ERROR_LOG_KEEP = 50
TITLE_MAX = 80
# Options whose value is a secret, and KEY=VALUE arguments whose key names one.
SECRET_WORDS = ("secret", "password", "passwd", "token-secret", "cipassword", "ticket", "cookie", "csrf")

IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
IP = re.compile(f"{IPV6.pattern}|{IPV4.pattern}")
MAC = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![\w:])")
FINGERPRINT = re.compile(r"(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}")
# host.example.org style names (two dots or more, a letter in the last label); versions and files stay.
FQDN = re.compile(
    r"(?<![\w.@/-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){2,}[A-Za-z][A-Za-z0-9-]*(?![\w-])"
)
FILE_SUFFIXES = (
    ".py",
    ".yaml",
    ".yml",
    ".json",
    ".md",
    ".db",
    ".toml",
    ".txt",
    ".log",
    ".tf",
    ".j2",
    ".jsonl",
)


# ----------------------------------------------------------------------------- the error log


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Return a command line with the values of secret options and KEY=VALUE secrets replaced."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        secretish = any(word in name.lower() for word in SECRET_WORDS)
        if arg.startswith("-") and secretish:
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
        elif eq and secretish:
            out.append(f"{name}={REDACTED}")
        else:
            out.append(arg)
    return out


def error_log_path() -> Path:
    """Return the file that keeps the last commands' errors (in the per-user state directory)."""
    return user_state_dir() / ERROR_LOG


def remember_error(argv: Sequence[str], exc: BaseException, exit_code: int) -> None:
    """Append one command's error to the error log, keeping the last few; never fails the command."""
    kind = exc.kind if isinstance(exc, PmpcError) else type(exc).__name__
    message = (exc.message if isinstance(exc, PmpcError) else None) or str(exc)
    from proxmox_mpc.version import describe_version

    entry = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": redact_argv(argv),
        "kind": kind,
        "message": message,
        "exit_code": exit_code,
        "version": describe_version(),
    }
    path = error_log_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        lines = [*lines[-(ERROR_LOG_KEEP - 1) :], json.dumps(entry, ensure_ascii=False)]
        write_private(path, "\n".join(lines) + "\n")
    except (OSError, FileWriteError):
        pass


def read_errors(limit: int = 10) -> list[dict[str, Any]]:
    """Return the last errors pmpc recorded, oldest first."""
    path = error_log_path()
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines()[-limit:]:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


# ----------------------------------------------------------------------------- anonymisation


class Anonymiser:
    """Replace hostnames, IPs, MACs and guest names with stable placeholders (host-1, ip-1, ...)."""

    def __init__(
        self,
        *,
        hosts: Iterable[str] = (),
        guests: Iterable[str] = (),
        secrets: Iterable[str] = (),
        home: str | None = None,
    ) -> None:
        self.mapping: dict[tuple[str, str], str] = {}
        self.counters: dict[str, int] = {}
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.home = home
        self.kinds: dict[str, str] = {}
        for kind, values in (("host", hosts), ("guest", guests)):
            for value in values:
                if value:
                    self.kinds.setdefault(value.lower(), kind)
        # Longest first, so web-10 is matched whole rather than as web-1 and a rest.
        names = sorted(self.kinds, key=len, reverse=True)
        self.pattern = (
            re.compile(
                r"(?<![\w.-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])", re.IGNORECASE
            )
            if names
            else None
        )

    def token(self, kind: str, value: str) -> str:
        """Return the placeholder of a value, the same every time it is seen."""
        key = (kind, value.lower())
        if key not in self.mapping:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            self.mapping[key] = f"{kind}-{self.counters[kind]}"
        return self.mapping[key]

    def _ip(self, match: re.Match[str]) -> str:
        text = match.group(0)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return text
        return self.token("ip", text)

    def _fqdn(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if text.lower().endswith(FILE_SUFFIXES):
            return text
        return self.token("host", text)

    def apply(self, text: str) -> str:
        """Return the text anonymised."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        if self.home and len(self.home) > 1:
            text = text.replace(self.home, "~")
        # Certificate fingerprints are public and look like MACs or IPv6: leave them whole.
        text = _outside_fingerprints(
            text, lambda part: MAC.sub(lambda m: self.token("mac", m.group(0)), part)
        )
        text = _outside_fingerprints(text, lambda part: IP.sub(self._ip, part))
        if self.pattern is not None:
            text = self.pattern.sub(lambda m: self.token(self.kinds[m.group(0).lower()], m.group(0)), text)
        return FQDN.sub(self._fqdn, text)


def _outside_fingerprints(text: str, change: Any) -> str:
    pieces, last = [], 0
    for match in FINGERPRINT.finditer(text):
        pieces.append(change(text[last : match.start()]))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(change(text[last:]))
    return "".join(pieces)


# ----------------------------------------------------------------------------- the report


class IssueReport(Model):
    """What `pmpc report-issue` wrote and where to take it."""

    path: str
    title: str
    url: str
    replaced: dict[str, int]


async def _cluster_names(app_ctx: AppContext) -> tuple[list[str], list[str], list[str]]:
    """Return (hosts, guest names, recent task lines) from the cluster, or what could be reached."""
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.health import recent_tasks

    hosts: list[str] = []
    guests: list[str] = []
    task_lines = ["(the cluster could not be reached)"]
    try:
        settings = app_ctx.settings
    except PmpcError:
        return hosts, guests, task_lines
    if settings.host:
        hosts.append(settings.host)
    try:
        async with connect(app_ctx) as api:
            api.retries = 0
            status, resources = await api.cluster_status(), await api.cluster_resources()
            for entry in status:
                hosts.extend(str(entry[k]) for k in ("name", "ip") if entry.get(k))
            nodes = []
            for res in resources:
                if res.get("type") == "node" and res.get("node"):
                    hosts.append(str(res["node"]))
                    if res.get("status") == "online":
                        nodes.append(str(res["node"]))
                elif is_api_guest_type(res.get("type")) and res.get("name"):
                    guests.append(str(res["name"]))
            tasks, _ = await recent_tasks(api, nodes, limit=20)
            task_lines = [] if tasks else ["(none)"]
            for task in sorted(tasks, key=lambda t: t.get("starttime") or 0)[-20:]:
                when = datetime.fromtimestamp(int(task.get("starttime") or 0), timezone.utc).isoformat()
                task_lines.append(
                    f"{when} {task.get('node')} {task.get('type')} {task.get('id') or '-'} "
                    f"{task.get('status') or 'running'}"
                )
    except PmpcError:
        pass
    return hosts, guests, task_lines


def _state_names(app_ctx: AppContext) -> tuple[list[str], list[str]]:
    """Return (node names, guest names) the state store knows, when it can be read."""
    from proxmox_mpc.services.diagnostics import known_names

    names = known_names(app_ctx)
    # VMIDs are not private, and replacing bare numbers would garble the report.
    return names.get("nodes", []), [n for n in names.get("guests", []) if not n.isdigit()]


def issue_title(last_error: dict[str, Any] | None) -> str:
    """Return a short issue title from the last error (or a generic one)."""
    if not last_error:
        return "pmpc: bug report"
    command = " ".join(a for a in last_error.get("argv", []) if not a.startswith("-"))[:30] or "pmpc"
    title = f"pmpc {command}: {last_error.get('message', '')}".strip()
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1].rstrip() + "…"


async def build_issue_report(
    app_ctx: AppContext, out: Path | None, now: datetime | None = None
) -> tuple[IssueReport, str]:
    """Write the anonymised bug report file and return where it is and the prefilled issue URL."""
    from proxmox_mpc.services.diagnostics import build_report, render_text, secret_values

    now = now or datetime.now(timezone.utc)
    debug = await build_report(app_ctx)
    hosts, guests, task_lines = await _cluster_names(app_ctx)
    state_nodes, state_guests = _state_names(app_ctx)
    errors = read_errors(10)
    last_error = errors[-1] if errors else None
    anonymiser = Anonymiser(
        hosts=[*hosts, *state_nodes],
        guests=[*guests, *state_guests],
        secrets=secret_values(app_ctx),
        home=str(Path.home()),
    )
    parts = [
        "# pmpc bug report",
        "",
        "Generated by `pmpc report-issue`. Hostnames, IP and MAC addresses and guest names are replaced by",
        "placeholders (host-1, ip-1, mac-1, guest-1); secrets are never included.",
        "Review it before attaching.",
        "",
        "## What happened",
        "",
        "<describe what you did, what you expected and what happened instead>",
        "",
        "## Last command's error",
        "",
    ]
    if last_error:
        parts += [
            f"- command: `pmpc {' '.join(last_error.get('argv', []))}`",
            f"- when: {last_error.get('time')}",
            f"- exit code: {last_error.get('exit_code')} ({last_error.get('kind')})",
            f"- message: {last_error.get('message')}",
            "",
        ]
    else:
        parts += ["No error recorded.", ""]
    parts += ["## Recent pmpc errors", "", "```"]
    parts += [
        f"{e.get('time')} exit {e.get('exit_code')} pmpc {' '.join(e.get('argv', []))}: {e.get('message')}"
        for e in errors
    ] or ["(none)"]
    parts += [
        "```",
        "",
        "## Recent cluster tasks",
        "",
        "```",
        *task_lines,
        "```",
        "",
    ]
    parts += ["## Diagnostics", "", "```", render_text(debug).rstrip("\n"), "```", ""]
    text = anonymiser.apply("\n".join(parts))
    title = anonymiser.apply(issue_title(last_error))
    target = out or Path.cwd() / f"pmpc-report-{now.strftime('%Y%m%d-%H%M%S')}.md"
    from proxmox_mpc.services.diagnostics import write_report_file

    path = write_report_file(target, text)
    url = ISSUES_URL + "?" + urlencode({"title": title, "labels": "bug"})
    replaced: dict[str, int] = {}
    for kind, _value in anonymiser.mapping:
        replaced[kind] = replaced.get(kind, 0) + 1
    return IssueReport(path=str(path), title=title, url=url, replaced=replaced), text
