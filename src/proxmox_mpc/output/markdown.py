"""The plan and the drift as GitHub-flavoured markdown for a pull-request comment or a CI job summary.

Pure: a Plan (or drift rows) in, text out. A summary line and a count table, then one collapsible
`<details>` block per resource with its field changes as a `diff` code block. Secrets are never shown.
The text stays under `limit` characters (GitHub refuses comments over 65,536): when it would not, the
longest blocks are left out, and a note says how many and where the whole plan is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from proxmox_mpc.core.plan import SYMBOLS, Change, FieldChange, Plan
from proxmox_mpc.core.secrets import SHOWN, is_secret_key
from proxmox_mpc.output.plan_view import HEADLINES, describe_target, plan_line

# GitHub's limit for an issue or pull-request comment body, in characters.
COMMENT_LIMIT = 65_536
# What the renderer may use: the rest is left for the marker and heading a CI step puts around it.
DEFAULT_LIMIT = COMMENT_LIMIT - 1_536
# One value longer than this is cut: a comment is for review, the plan file has everything.
VALUE_LIMIT = 500
COUNT_KEYS = ("add", "change", "replace", "destroy", "power")
REBOOT_MARK = "(needs reboot)"
REPLACE_MARK = "# forces replacement"
DRIFT_HEADLINES = {
    "add": "appeared on the cluster",
    "change": "changed on the cluster",
    "power": "changed power state on the cluster",
    "destroy": "vanished from the cluster",
}
DRIFT_SYMBOLS = {"add": "+", "change": "~", "power": "~", "destroy": "-"}
BACKTICKS = re.compile(r"`+")
DESTRUCTIVE = ("replace", "delete")
# Unmanaged guests listed by name at most; the rest are counted.
UNMANAGED_SHOWN = 200


def _value(name: str, text: str | None) -> str:
    if is_secret_key(name.rpartition(".")[2]):
        return SHOWN
    if text is None:
        return "(none)"
    shown = text.replace("\r", "\\r").replace("\n", "\\n")
    return shown if len(shown) <= VALUE_LIMIT else shown[: VALUE_LIMIT - 3] + "..."


def _diff_lines(name: str, old: str | None, new: str | None, marks: str) -> list[str]:
    """Return `- name: old` and/or `+ name: new`, the marks on the last line."""
    lines = []
    if old is not None:
        lines.append(f"- {name}: {_value(name, old)}")
    if new is not None or not lines:
        lines.append(f"+ {name}: {_value(name, new)}")
    if marks:
        lines[-1] += "  " + marks
    return lines


def _fenced(lines: Sequence[str]) -> str:
    """Return a ```diff block whose fence is longer than any backtick run inside it."""
    longest = max((len(m.group()) for line in lines for m in BACKTICKS.finditer(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}diff\n" + "".join(line + "\n" for line in lines) + f"{fence}\n"


def _details(summary: str, lines: Sequence[str]) -> str:
    body = _fenced(lines) if lines else "_No field changes._\n"
    return f"<details><summary>{summary}</summary>\n\n{body}\n</details>\n\n"


def _code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>"


def _table(counts: Mapping[str, int]) -> str:
    head = "| " + " | ".join(COUNT_KEYS) + " |\n"
    rule = "|" + "---:|" * len(COUNT_KEYS) + "\n"
    row = "| " + " | ".join(str(counts.get(key, 0)) for key in COUNT_KEYS) + " |\n"
    return head + rule + row


def _assemble(head: str, blocks: Sequence[str], tail: str, limit: int, note: str) -> str:
    """Join head, blocks and tail; leave out the longest blocks until the text fits in `limit`."""
    text = _join(head, blocks, tail)
    if len(text) <= limit:
        return text
    size = len(text)
    left_out: set[int] = set()
    for index in sorted(range(len(blocks)), key=lambda i: (-len(blocks[i]), -i)):
        left_out.add(index)
        size -= len(blocks[index])
        if size + len(_elision_note(len(left_out), note)) <= limit:
            break
    kept = [block for i, block in enumerate(blocks) if i not in left_out]
    return _join(head + _elision_note(len(left_out), note), kept, tail)


def _join(head: str, blocks: Sequence[str], tail: str) -> str:
    return (head + "".join(blocks) + tail).rstrip("\n") + "\n"


def _elision_note(count: int, where: str) -> str:
    blocks = "block was" if count == 1 else "blocks were"
    return (
        f"> [!NOTE]\n> {count} resource {blocks} left out (the longest) to keep this under GitHub's "
        f"{COMMENT_LIMIT:,}-character comment limit. {where}\n\n"
    )


# ----------------------------------------------------------------------------- plan


def _marks(item: FieldChange) -> str:
    marks = [REBOOT_MARK] if item.needs_reboot else []
    if item.forces_replacement:
        marks.append(REPLACE_MARK)
    return "  ".join(marks)


def _plan_lines(change: Change) -> list[str]:
    lines: list[str] = []
    if change.backup:
        where = "the node's backup storage" if change.backup == "auto" else change.backup
        lines.append(f"# backup first: vzdump to {where}, then delete")
    for item in change.fields:
        old, new = item.old, item.new
        if change.action == "create" or (change.action == "replace" and old == new):
            old = None
        elif change.action == "delete":
            new = None
        lines.extend(_diff_lines(item.name, old, new, _marks(item)))
    return lines


def _plan_block(change: Change) -> str:
    headline = html.escape(HEADLINES[change.action])
    if change.needs_reboot and change.action == "update":
        headline += "; some changes apply at the next reboot"
    if change.action in DESTRUCTIVE:
        headline = f"<b>{headline}</b>"
    summary = f"{_code(SYMBOLS[change.action])} <b>{html.escape(describe_target(change))}</b> {headline}"
    if change.replaced_in_run:
        summary += f" (was replaced; see journal {change.replaced_in_run})"
    return _details(summary, _plan_lines(change))


def render_plan_markdown(
    plan: Plan, *, plan_file: str | None = None, title: str = "pmpc plan", limit: int = DEFAULT_LIMIT
) -> str:
    """Return the plan as markdown: summary line, count table, one `<details>` block per change."""
    where = [f"context `{plan.context}`" if plan.context else "", f"workspace `{plan.workspace}`" if plan.workspace
             else "", f"made {plan.created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"]  # fmt: skip
    head = f"### {title}\n\n**{plan_line(plan)}**\n\n{_table(plan.summary.model_dump())}\n"
    head += " · ".join(w for w in where if w) + "\n\n"
    if plan.empty:
        head += "No changes: the cluster matches the manifests.\n"
    blocks = [_plan_block(change) for change in plan.changes]
    tail = ""
    if plan.pending_reboot:
        tail += _details(
            f"{len(plan.pending_reboot)} guest(s) pending reboot: counted as applied, in effect from the next start",
            [f"  {p.address} ({p.vmid}): {', '.join(p.fields)} (pending reboot)" for p in plan.pending_reboot],
        )
    if plan.unmanaged:
        shown = [f"  {ref}" for ref in plan.unmanaged[:UNMANAGED_SHOWN]]
        if len(plan.unmanaged) > UNMANAGED_SHOWN:
            shown.append(f"  ... and {len(plan.unmanaged) - UNMANAGED_SHOWN} more")
        what = f"{len(plan.unmanaged)} unmanaged guest(s): no manifest, never changed by plan or apply"
        tail += _details(what, shown)
    if plan_file:
        note = f"The full plan is in `{plan_file}` (`pmpc apply {plan_file}` applies exactly it)."
    else:
        note = "Save the full plan with `pmpc plan --out FILE`."
    return _assemble(head, blocks, tail, limit, note)


# ----------------------------------------------------------------------------- drift


def _drift_groups(changes: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in changes:
        groups.setdefault(str(row["address"]), []).append(row)
    return groups


def _drift_action(rows: Sequence[Mapping[str, Any]]) -> str:
    kinds = {row["change"] for row in rows}
    if "add" in kinds:
        return "add"
    if "delete" in kinds:
        return "destroy"
    return "power" if {row.get("field") for row in rows} == {"status"} else "change"


def render_drift_markdown(
    changes: Sequence[Mapping[str, Any]],
    *,
    last_sync: str | None = None,
    title: str = "pmpc state drift",
    limit: int = DEFAULT_LIMIT,
) -> str:
    """Return drift rows (`pmpc state drift -o json`) as markdown, one `<details>` block per guest."""
    groups = _drift_groups(changes)
    counts = dict.fromkeys(COUNT_KEYS, 0)
    blocks = []
    for address, rows in groups.items():
        action = _drift_action(rows)
        counts[action] += 1
        name = rows[0].get("name")
        target = f"{address} ({name})" if name else address
        summary = f"{_code(DRIFT_SYMBOLS[action])} <b>{html.escape(target)}</b> {DRIFT_HEADLINES[action]}"
        lines = [
            line
            for row in rows
            if row["change"] == "change"
            for line in _diff_lines(str(row["field"]), row.get("old"), row.get("new"), "")
        ]
        blocks.append(_details(summary, lines))
    since = f" since the last sync ({last_sync})" if last_sync else " (never synced: every guest shows as added)"
    if groups:
        line = (
            f"Drift: {counts['add']} guest(s) appeared, {counts['change'] + counts['power']} changed, "
            f"{counts['destroy']} vanished{since}."
        )
    else:
        line = f"No drift{since}."
    head = f"### {title}\n\n**{line}**\n\n{_table(counts)}\n"
    note = "`pmpc state drift -o json` prints all of it."
    return _assemble(head, blocks, "", limit, note)
