"""The plan and the drift as markdown for pull-request comments, against golden files (tests/golden/markdown/)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from tests.unit.output.test_plan_view import WHEN, sample_plan

from proxmox_mpc.core.plan import Change, FieldChange, PendingReboot, make_plan
from proxmox_mpc.output.markdown import (
    COMMENT_LIMIT,
    DEFAULT_LIMIT,
    VALUE_LIMIT,
    render_drift_markdown,
    render_plan_markdown,
)

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "markdown"
DETAILS = re.compile(r"<details><summary><code>[^<]*</code> <b>(?P<target>[^<(]+) ")


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs (UPDATE_GOLDEN=1 rewrites it)"


def long_plan():
    """A plan of 150 guests whose blocks grow with their index: about twice what one comment holds."""
    changes = []
    for i in range(150):
        fields = [
            FieldChange(name=f"description{j}", old=f"old {i}-{j} " + "x" * 60, new=f"new {i}-{j} " + "y" * 60)
            for j in range(1 + i % 7)
        ]
        changes.append(Change(address=f"vm/guest-{i:03d}", kind="vm", vmid=1000 + i, node="pve1",
                              action="update", fields=fields, digest="d"))  # fmt: skip
    return make_plan(changes, context="lab", workspace="infra", created_at=WHEN)


def test_empty_plan_matches_golden():
    text = render_plan_markdown(make_plan([], context="lab", workspace="infra", created_at=WHEN))
    _golden("plan-empty.md", text)
    assert "**Plan: 0 to add, 0 to change, 0 to destroy.**" in text and "<details>" not in text


def test_mixed_plan_matches_golden():
    text = render_plan_markdown(sample_plan(), plan_file="plan.json")
    _golden("plan-mixed.md", text)
    assert text.count("<details>") == 6  # five changes and the unmanaged guests
    assert "+ cores: 4  (needs reboot)" in text
    assert "<b>must be replaced (destroyed, then created again)</b>" in text
    assert "left out" not in text


def test_long_plan_is_elided_under_the_comment_limit_with_a_note():
    plan = long_plan()
    full = render_plan_markdown(plan, plan_file="plan.json", limit=10**9)
    assert len(full) > COMMENT_LIMIT + 50_000
    text = render_plan_markdown(plan, plan_file="plan.json")
    _golden("plan-too-long.md", text)
    assert len(text) <= DEFAULT_LIMIT < COMMENT_LIMIT
    shown = {m.group("target") for m in DETAILS.finditer(text)}
    left_out = {c.address for c in plan.changes} - shown
    note = f"> {len(left_out)} resource blocks were left out (the longest)"
    assert note in text and "The full plan is in `plan.json`" in text
    # The longest blocks went first: every guest left out has at least as many fields as every one shown.
    fields = {c.address: len(c.fields) for c in plan.changes}
    assert min(fields[a] for a in left_out) >= max(fields[a] for a in shown)
    # The summary still counts every change.
    assert "| 0 | 150 | 0 | 0 | 0 |" in text


def test_note_without_a_plan_file_says_how_to_save_one():
    text = render_plan_markdown(long_plan(), limit=20_000)
    assert len(text) <= 20_000 and "Save the full plan with `pmpc plan --out FILE`." in text


def test_secrets_are_never_shown():
    change = Change(address="vm/web-1", kind="vm", vmid=101, node="pve1", action="update", fields=[
        FieldChange(name="cipassword", old="old-s3cret", new="n3w-s3cret"),
        FieldChange(name="memory", old="1024", new="2048"),
    ])  # fmt: skip
    text = render_plan_markdown(make_plan([change], created_at=WHEN))
    assert "s3cret" not in text and "+ cipassword: <redacted>" in text and "+ memory: 2048" in text
    drift = render_drift_markdown(
        [{"address": "vm/101", "name": "web-1", "change": "change", "field": "config.cipassword",
          "old": "s3cret-a", "new": "s3cret-b"}]
    )
    assert "s3cret" not in drift and "+ config.cipassword: <redacted>" in drift


def test_values_cannot_break_out_of_their_block():
    change = Change(address="vm/<b>x</b>", kind="vm", vmid=101, node="pve1", action="update", fields=[
        FieldChange(name="description", old="a ```` b", new="line1\nline2\n</details>"),
        FieldChange(name="args", old=None, new="z" * (VALUE_LIMIT + 50)),
    ])  # fmt: skip
    text = render_plan_markdown(make_plan([change], created_at=WHEN))
    assert "`````diff\n" in text and "\n`````\n" in text  # a fence longer than the value's run of 4
    assert "+ description: line1\\nline2\\n</details>" in text
    assert "<b>vm/&lt;b&gt;x&lt;/b&gt; (101 on pve1)</b>" in text
    assert "+ args: " + "z" * (VALUE_LIMIT - 3) + "...\n" in text


def test_replacements_backups_journal_notes_and_pending_reboots_are_marked():
    replace = Change(address="ct/cache-1", kind="ct", vmid=202, node="pve3", action="replace", backup="auto", fields=[
        FieldChange(name="unprivileged", old="1", new="0", forces_replacement=True),
        FieldChange(name="memory", old="512", new="1024", needs_reboot=True),
    ])  # fmt: skip
    create = Change(address="vm/web-9", kind="vm", node="pve1", action="create", replaced_in_run=12,
                    fields=[FieldChange(name="cores", new="2")])  # fmt: skip
    delete = Change(address="vm/old-1", kind="vm", vmid=110, node="pve1", action="delete", backup="nfs-backup")
    pending = PendingReboot(address="vm/web-1", vmid=101, fields=["cores", "memory"])
    text = render_plan_markdown(make_plan([replace, create, delete], pending_reboot=[pending], created_at=WHEN))
    assert "```diff\n# backup first: vzdump to the node's backup storage, then delete\n- unprivileged: 1\n" in text
    assert "- unprivileged: 1\n+ unprivileged: 0  # forces replacement\n" in text
    assert "+ memory: 1024  (needs reboot)\n" in text
    assert "<b>vm/web-9 (new, on pve1)</b> will be created (was replaced; see journal 12)</summary>" in text
    assert "```diff\n# backup first: vzdump to nfs-backup, then delete\n```" in text
    assert "<summary>1 guest(s) pending reboot: counted as applied, in effect from the next start</summary>" in text
    assert "  vm/web-1 (101): cores, memory (pending reboot)\n" in text


@pytest.mark.parametrize(
    ("rows", "table", "line"),
    [
        ([], "| 0 | 0 | 0 | 0 | 0 |", "**No drift since the last sync (2026-01-02 03:04:05Z).**"),
        (
            [
                {"address": "vm/105", "name": "web-3", "change": "add", "field": "", "old": None, "new": None},
                {"address": "vm/101", "name": "web-1", "change": "change", "field": "config.memory",
                 "old": "2048", "new": "4096"},
                {"address": "vm/102", "name": "web-2", "change": "change", "field": "status",
                 "old": "running", "new": "stopped"},
                {"address": "vm/104", "name": "batch-1", "change": "delete", "field": "", "old": None, "new": None},
            ],
            "| 1 | 1 | 0 | 1 | 1 |",
            "**Drift: 1 guest(s) appeared, 2 changed, 1 vanished since the last sync (2026-01-02 03:04:05Z).**",
        ),
    ],
    ids=["none", "mixed"],
)
def test_drift_summary_and_table(rows, table, line):
    text = render_drift_markdown(rows, last_sync="2026-01-02 03:04:05Z")
    assert line in text and table in text
    assert text.count("<details>") == len(rows)
    if rows:
        assert "<code>~</code> <b>vm/101 (web-1)</b> changed on the cluster" in text
        assert "- config.memory: 2048\n+ config.memory: 4096\n" in text
        assert "<code>-</code> <b>vm/104 (batch-1)</b> vanished from the cluster" in text


def test_long_drift_is_elided_with_a_note():
    rows = [
        {"address": f"vm/{100 + i}", "name": f"g{i}", "change": "change", "field": f"config.k{j}",
         "old": "a" * 200, "new": "b" * 200}
        for i in range(100) for j in range(1 + i % 5)
    ]  # fmt: skip
    text = render_drift_markdown(rows, last_sync="2026-01-02 03:04:05Z", limit=30_000)
    assert len(text) <= 30_000 and "`pmpc state drift -o json` prints all of it." in text
    assert re.search(r"> \d+ resource blocks were left out", text)
