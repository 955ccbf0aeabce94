"""`pmpc apply` and `pmpc destroy`: execute a plan under the workspace lock, journaling every action.

The plan alone says what to do (a saved plan needs no manifests). workflow.py and destroy.py make
the plan and confirm it; recheck.py checks it still holds once the lock is taken; executor.py runs
its changes in order, concurrently; steps.py turns one change into requests (built in
core/guest_requests.py); journal.py writes every step; report.py says how it went.
"""

from __future__ import annotations

from proxmox_mpc.services.apply.destroy import destroy, destroy_plan
from proxmox_mpc.services.apply.executor import Replan, describe_change, execute_plan
from proxmox_mpc.services.apply.recheck import check_fresh, check_saved_creatable, same_change, settle_plan
from proxmox_mpc.services.apply.report import (
    ActionResult,
    ApplyReport,
    Confirm,
    ShowPlan,
    StepResult,
    failure,
    plan_digest,
)
from proxmox_mpc.services.apply.workflow import apply

__all__ = [
    "ActionResult",
    "ApplyReport",
    "Confirm",
    "Replan",
    "ShowPlan",
    "StepResult",
    "apply",
    "check_fresh",
    "check_saved_creatable",
    "describe_change",
    "destroy",
    "destroy_plan",
    "execute_plan",
    "failure",
    "plan_digest",
    "same_change",
    "settle_plan",
]
