"""docs/output.md documents every JSON object pmpc prints, key for key (no more, no fewer)."""

from __future__ import annotations

import re

import pytest
from tests.helpers.output_docs import documented_objects

from proxmox_mpc.core import backups, batch, models, plan
from proxmox_mpc.core import firewall as firewall_core
from proxmox_mpc.services import (
    agent,
    apply,
    config_ops,
    diagnostics,
    firewall,
    generate,
    guests,
    health,
    infra_test,
    logs,
    report,
    state,
    storage,
    sync,
    tasks,
    validate,
    workspace,
)
from proxmox_mpc.state import resources as resource_records
from proxmox_mpc.state import store

BATCH_KEYS = (*batch.RESULT_KEYS, "dry_run", "requests")

# Section title in docs/output.md -> the model whose JSON it documents (or the keys, for batch records).
OBJECTS = {
    "Node": models.Node,
    "Node description": models.NodeDescription,
    "Guest counts": models.GuestCounts,
    "Storage": models.Storage,
    "Volume": storage.Volume,
    "Firewall rule": firewall.RuleRow,
    "Firewall options": firewall.FirewallOptions,
    "Firewall alias": firewall_core.FirewallAlias,
    "Firewall IP set": firewall_core.FirewallIPSet,
    "Security group": firewall.GroupRow,
    "Guest": models.Guest,
    "Guest description": guests.GuestDescription,
    "Pending change": guests.PendingChange,
    "Snapshot": guests.Snapshot,
    "Task": tasks.TaskInfo,
    "Log entry": logs.LogEntry,
    "Batch result": BATCH_KEYS,
    "Sync report": sync.SyncReport,
    "Guest change": sync.GuestChange,
    "Planned manifest": sync.PlannedManifest,
    "Resource change": models.ResourceChange,
    "Stored resource change": resource_records.ResourceChangeRecord,
    "Backup": backups.BackupVolume,
    "Command run in a VM": agent.ExecResult,
    "Status": state.StatusReport,
    "Drift": state.DriftReport,
    "Journal run": state.JournalRun,
    "Journal entry": store.JournalEntry,
    "In-flight task": state.InFlight,
    "Stored guest": store.GuestRecord,
    "Stored change": store.ChangeRecord,
    "State upgrade": state.UpgradeResult,
    "State unlock": state.UnlockResult,
    "Plan": plan.Plan,
    "Change": plan.Change,
    "Field change": plan.FieldChange,
    "Plan summary": plan.Summary,
    "Pending reboot": plan.PendingReboot,
    "Apply report": apply.ApplyReport,
    "Action result": apply.ActionResult,
    "Step": apply.StepResult,
    "Validation": validate.ValidateReport,
    "Context": config_ops.ContextSummary,
    "Context change": config_ops.SetContextResult,
    "Health": health.HealthReport,
    "Check": health.Check,
    "Test run": infra_test.TestRun,
    "Guest test result": infra_test.GuestResult,
    "Test check": infra_test.CheckResult,
    "Workspace": workspace.InitResult,
    "Generated file": generate.GeneratedFile,
    "Debug report": diagnostics.DebugReport,
    "Connectivity": diagnostics.Connectivity,
    "TLS check": diagnostics.TlsInfo,
    "State store check": diagnostics.StateStoreInfo,
    "Issue report": report.IssueReport,
}


def keys_of(target) -> set[str]:
    """The keys an object prints: its fields and its computed fields."""
    if isinstance(target, tuple):
        return set(target)
    return set(target.model_fields) | set(target.model_computed_fields)


def internal_keys(target) -> set[str]:
    """What one observation knew of a guest and no view of it prints (ObservedGuest's excluded fields)."""
    from proxmox_mpc.core.models import ObservedGuest

    if isinstance(target, tuple) or not issubclass(target, ObservedGuest):
        return set()
    return {name for name, info in ObservedGuest.model_fields.items() if info.exclude}


def test_every_json_object_is_documented_and_every_section_is_checked():
    assert set(documented_objects()) == set(OBJECTS)


@pytest.mark.parametrize("title", sorted(OBJECTS))
def test_documented_keys_are_exactly_the_json_keys(title):
    documented = documented_objects()[title]
    assert len(documented) == len(set(documented)), f"{title}: a key is listed twice"
    actual = keys_of(OBJECTS[title]) - internal_keys(OBJECTS[title])
    assert set(documented) - actual == set(), f"{title}: documented but never printed"
    assert actual - set(documented) == set(), f"{title}: printed but not documented"


@pytest.mark.parametrize("title", sorted(OBJECTS))
def test_keys_are_snake_case(title):
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", key) for key in keys_of(OBJECTS[title]))
