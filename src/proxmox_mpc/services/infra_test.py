"""`pmpc test`: run the workspace's generated tests, or check its manifests against the live cluster."""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import api_type, is_api_guest_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import split_tags, to_int
from proxmox_mpc.errors import FileWriteError, PmpcError, UsageError

if TYPE_CHECKING:
    from proxmox_mpc.core.manifest import AnyManifest

TESTS_DIR = "tests"
# pytest's exit codes: 0 all passed, 1 some failed, 5 nothing collected.
PYTEST_OK, PYTEST_FAILED, PYTEST_NO_TESTS = 0, 1, 5
PARAM_ID = re.compile(r"\[(?P<id>[^\]]+)\]$")
DEFAULT_MEMORY = 512
DEFAULT_CORES = 1


class CheckResult(Model):
    """One fact checked about one guest."""

    name: str
    ok: bool
    message: str = ""


class GuestResult(Model):
    """Every check of one guest (or one group of generated tests) and whether they all passed."""

    guest: str
    result: Literal["pass", "fail"]
    passed: int
    failed: int
    details: str = ""
    checks: list[CheckResult] = Field(default_factory=list)


class TestRun(Model):
    """What `pmpc test` ran and how each guest fared."""

    __test__ = False  # not a pytest test class

    mode: Literal["generated", "builtin"]
    ok: bool
    summary: str
    guests: list[GuestResult]

    def failure_sentence(self) -> str:
        """Return the one-sentence error for a failed run."""
        failed = [g.guest for g in self.guests if g.result == "fail"]
        return f"{len(failed)} of {len(self.guests)} guest(s) failed their tests: {', '.join(failed[:10])}."


def _group(guest: str, checks: list[CheckResult]) -> GuestResult:
    failed = [c for c in checks if not c.ok]
    return GuestResult(
        guest=guest,
        result="fail" if failed else "pass",
        passed=len(checks) - len(failed),
        failed=len(failed),
        details="; ".join(c.message or c.name for c in failed) or "-",
        checks=checks,
    )


def _finish(mode: Literal["generated", "builtin"], guests: list[GuestResult]) -> TestRun:
    failed = sum(1 for g in guests if g.result == "fail")
    ok = failed == 0
    what = "generated tests" if mode == "generated" else "built-in checks"
    summary = f"{what}: {len(guests) - failed} guest(s) passed, {failed} failed."
    return TestRun(mode=mode, ok=ok, summary=summary, guests=guests)


# ----------------------------------------------------------------------------- built-in checks (pure)


def find_observed(manifest: AnyManifest, resources: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the /cluster/resources entry of a manifest's guest: by VMID when it has one, else by name."""
    gtype = api_type(manifest.kind)
    guests = [r for r in resources if is_api_guest_type(r.get("type"))]
    if manifest.vmid is not None:
        return next((r for r in guests if to_int(r.get("vmid")) == manifest.vmid), None)
    named = [r for r in guests if r.get("name") == manifest.name and r.get("type") == gtype]
    return named[0] if len(named) == 1 else None


def check_guest(
    manifest: AnyManifest, observed: dict[str, Any] | None, config: dict[str, Any]
) -> list[CheckResult]:
    """Compare one manifest with the cluster: existence, kind, node, power state, CPU, memory, tags."""
    spec = manifest.spec
    gtype = api_type(manifest.kind)
    if spec.state == "absent":
        gone = observed is None
        return [CheckResult(name="absent", ok=gone, message="" if gone else "exists but should be absent")]
    if observed is None:
        return [CheckResult(name="exists", ok=False, message="does not exist on the cluster")]
    checks = [CheckResult(name="exists", ok=True)]

    def expect(name: str, want: Any, got: Any) -> None:
        ok = want == got
        checks.append(CheckResult(name=name, ok=ok, message="" if ok else f"{name}: want {want}, got {got}"))

    expect("kind", gtype, observed.get("type"))
    expect("node", manifest.node, observed.get("node"))
    if spec.state in ("running", "stopped") and not spec.template:
        expect("state", spec.state, observed.get("status"))
    if spec.template is not None:
        expect("template", bool(spec.template), bool(to_int(observed.get("template"))))
    if spec.cores is not None:
        expect("cores", spec.cores, to_int(config.get("cores"), DEFAULT_CORES))
    if spec.memory is not None:
        memory = str(config.get("memory", DEFAULT_MEMORY)).split("=")[-1]
        expect("memory", spec.memory, to_int(memory, DEFAULT_MEMORY))
    if spec.tags is not None:
        expect("tags", split_tags(spec.tags), split_tags(config.get("tags")))
    return checks


async def run_builtin(app_ctx: AppContext, selector: str | None) -> TestRun:
    """Check every manifest (chosen by the selector) against the live cluster."""
    from proxmox_mpc.core.selectors import manifest_guest, parse_selector
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.workspace_manifests import workspace_manifests

    chosen = parse_selector(selector) if selector else None
    manifests = [item.manifest for item in workspace_manifests(app_ctx)]
    if chosen is not None:
        manifests = [m for m in manifests if chosen.matches(manifest_guest(m))]
    if not manifests:
        where = f" matching {selector}" if selector else ""
        raise UsageError(
            f"No manifests{where} to test: add them under resources/ or run `pmpc sync --import`."
        )
    async with connect(app_ctx) as api:
        resources = await api.cluster_resources("vm")
        observed = [find_observed(m, resources) for m in manifests]

        async def config_of(found: dict[str, Any] | None) -> dict[str, Any]:
            if found is None:
                return {}
            return await api.guest_config(str(found["node"]), str(found["type"]), to_int(found["vmid"]))

        configs = await asyncio.gather(*(config_of(o) for o in observed))
    results = [
        _group(m.address, check_guest(m, o, c)) for m, o, c in zip(manifests, observed, configs, strict=True)
    ]
    return _finish("builtin", results)


# ----------------------------------------------------------------------------- generated tests


def generated_tests(workspace: Path | None) -> Path | None:
    """Return the workspace's tests/ directory when it holds pytest files."""
    if workspace is None:
        return None
    directory = workspace / TESTS_DIR
    if not directory.is_dir():
        return None
    found = [p for p in directory.rglob("test_*.py") if "node_modules" not in p.parts]
    return directory if found else None


def parse_junit(xml_text: str) -> list[GuestResult]:
    """Group pytest's JUnit report by guest: the parametrize id (`test_state[web-1]`), else the module."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml_text)
    groups: dict[str, list[CheckResult]] = {}
    for case in root.iter("testcase"):
        name = case.get("name", "")
        match = PARAM_ID.search(name)
        key = match.group("id") if match else (case.get("classname") or name).split(".")[-1]
        bad = next((c for c in case if c.tag in ("failure", "error")), None)
        if any(c.tag == "skipped" for c in case):
            continue
        message = ""
        if bad is not None:
            message = f"{PARAM_ID.sub('', name)}: {(bad.get('message') or bad.tag).splitlines()[0][:200]}"
        groups.setdefault(key, []).append(CheckResult(name=name, ok=bad is None, message=message))
    return [_group(key, checks) for key, checks in sorted(groups.items())]


async def run_generated(directory: Path, workspace: Path) -> TestRun | None:
    """Run pytest on the generated tests (an argument list, never a shell); None when it collected nothing.

    Raises:
        PmpcError: pytest is missing, or it could not run the tests (usage or internal error).
    """
    import importlib.util

    if importlib.util.find_spec("pytest") is None:
        raise PmpcError(
            "The generated tests need pytest: `pip install pytest`, or run `pmpc test --builtin`."
        )
    with tempfile.TemporaryDirectory(prefix="pmpc-test-") as tmp:
        report = Path(tmp) / "junit.xml"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                str(directory)]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=str(workspace), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            output, _ = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        code = process.returncode
        if code == PYTEST_NO_TESTS:
            return None
        if code not in (PYTEST_OK, PYTEST_FAILED) or not report.is_file():
            tail = [line for line in output.decode(errors="replace").splitlines() if line.strip()][-3:]
            raise PmpcError(f"pytest could not run the generated tests (exit {code}): {' | '.join(tail)}")
        guests = parse_junit(report.read_text(encoding="utf-8"))
    return _finish("generated", guests)


def write_junit(run: TestRun, path: Path) -> None:
    """Write the run as a JUnit XML report (one testcase per guest and check).

    Raises:
        UsageError: the file cannot be written.
    """
    from proxmox_mpc.output.junit import render_junit
    from proxmox_mpc.safeio.files import write_file

    try:
        write_file(path, render_junit(run.model_dump(mode="json")))
    except FileWriteError as exc:
        reason = (exc.details or {}).get("reason") or exc.message
        raise UsageError(f"Cannot write the JUnit report to {path}: {reason.rstrip('.')}.") from exc


async def run_tests(app_ctx: AppContext, *, selector: str | None = None, builtin: bool = False) -> TestRun:
    """Run the generated tests when the workspace has them (no selector, no --builtin), else built-in checks.

    Raises:
        UsageError: outside a workspace, or no manifests to check.
    """
    directory = None if (builtin or selector) else generated_tests(app_ctx.workspace)
    if directory is not None and app_ctx.workspace is not None:
        result = await run_generated(directory, app_ctx.workspace)
        if result is not None:
            return result
    return await run_builtin(app_ctx, selector)
