"""The GitHub Action (action.yml and action/): schema, shellcheck, and its steps run for real.

run.sh runs the installed pmpc against fakepve; sticky_comment.py talks to a local stub of GitHub's
REST API on 127.0.0.1 (tests/helpers/github_stub.py): no network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers.github_stub import TOKEN, GitHubStub, serve_github
from tests.helpers.workspace import edit_spec, imported_workspace

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(BIN))
    assert found, f"{name} is missing: install the dev extra"
    return found


def test_action_yml_validates_against_the_github_actions_schema():
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_inputs_outputs_and_steps():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert {"version", "command", "working-directory", "context", "comment"} <= set(action["inputs"])
    assert {"exit_code", "has_changes", "plan_file"} <= set(action["outputs"])
    assert action["runs"]["using"] == "composite"
    scripts = [
        word.strip("'\"").replace("$GITHUB_ACTION_PATH/", "")
        for step in action["runs"]["steps"]
        for word in str(step.get("run", "")).split()
        if "$GITHUB_ACTION_PATH/" in word
    ]
    assert scripts == [
        "action/install.sh", "action/run.sh", "action/sticky_comment.py", "action/sticky_comment.py",
        "action/check_exit.sh",
    ]  # fmt: skip
    for script in scripts:
        assert os.access(ROOT / script, os.X_OK), f"{script} is not executable"


def test_action_scripts_pass_shellcheck(tmp_path):
    scripts = sorted(str(p) for p in ACTION.glob("*.sh"))
    assert len(scripts) == 3
    # The steps' own `run:` lines too, with each ${{ expression }} standing in as a word.
    for i, step in enumerate(yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]):
        if "run" in step:
            script = tmp_path / f"step-{i}.sh"
            script.write_text("#!/usr/bin/env bash\n" + re.sub(r"\$\{\{.*?\}\}", "EXPR", step["run"]) + "\n")
            scripts.append(str(script))
    result = subprocess.run([_tool("shellcheck"), *scripts], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------- running the steps


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    runner = tmp_path / "runner"
    runner.mkdir(exist_ok=True)
    env.update(RUNNER_TEMP=str(runner), GITHUB_OUTPUT=str(runner / "output"),
               GITHUB_STEP_SUMMARY=str(runner / "summary.md"))  # fmt: skip
    env.update(extra)
    return env


def _outputs(env: dict[str, str]) -> dict[str, str]:
    lines = Path(env["GITHUB_OUTPUT"]).read_text().splitlines()
    Path(env["GITHUB_OUTPUT"]).unlink()
    return dict(line.split("=", 1) for line in lines)


def run_step(ws: Path, env: dict[str, str], command: str, context: str = "") -> dict[str, str]:
    """Run action/run.sh as the action's `run` step does; return its outputs."""
    step_env = {**env, "PMPC_ACTION_COMMAND": command, "PMPC_ACTION_PLAN_FILE": "pmpc-plan.json",
                "PMPC_ACTION_CONTEXT": context}  # fmt: skip
    result = subprocess.run(["bash", str(ACTION / "run.sh")], cwd=ws, env=step_env, capture_output=True, text=True,
                            check=False, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr  # the step itself never fails
    return _outputs(env)


def check_exit(command: str, code: str) -> int:
    env = {"PATH": os.environ["PATH"], "COMMAND": command, "CODE": code}
    return subprocess.run(["bash", str(ACTION / "check_exit.sh")], env=env, capture_output=True, check=False).returncode


def sticky(env: dict[str, str], stub: GitHubStub, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run action/sticky_comment.py as the action's comment or issue step does, against the stub."""
    step_env = {**env, "GITHUB_API_URL": stub.url, "GITHUB_REPOSITORY": stub.repository, "GITHUB_TOKEN": TOKEN,
                "GITHUB_SERVER_URL": "https://github.test", "GITHUB_RUN_ID": "77", "GITHUB_SHA": "0123456789abcdef",
                **extra}  # fmt: skip
    return subprocess.run([sys.executable, str(ACTION / "sticky_comment.py"), *args], env=step_env,
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip


def _event(tmp_path: Path, number: int) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"pull_request": {"number": number, "head": {"sha": "abc"}}}))
    return str(path)


def test_plan_comment_then_apply_end_to_end(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    env = _env(tmp_path)
    with serve_github() as stub:
        pr = stub.add_issue("Grow db-1", pull_request=True)
        for i in range(130):  # other people's comments, over more than one page
            stub.add_comment(pr, f"looks good {i}")
        stub.add_comment(pr, "<!-- pmpc-action: plan . prod -->\nanother workspace's plan")
        event = _event(tmp_path, pr)

        edit_spec(ws, "db-1", memory=4096)
        out = run_step(ws, env, "plan")
        assert out["exit_code"] == "2" and out["has_changes"] == "true"
        assert out["plan_file"] == str(ws / "pmpc-plan.json") and Path(out["plan_file"]).is_file()
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        assert "**Plan: 0 to add, 1 to change, 0 to destroy.**" in summary
        assert Path(out["markdown_file"]).read_text() in summary
        comment = ("comment", "--key", "plan . ", "--body-file")
        first = sticky(env, stub, *comment, out["markdown_file"], GITHUB_EVENT_PATH=event)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "created comment" in first.stdout

        edit_spec(ws, "db-1", memory=16384)  # a new push to the pull request
        out = run_step(ws, env, "plan")
        second = sticky(env, stub, *comment, out["markdown_file"], GITHUB_EVENT_PATH=event)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "updated comment" in second.stdout

        ours = [c for c in stub.comments_on(pr) if c["body"].startswith("<!-- pmpc-action: plan . -->\n")]
        assert len(ours) == 1 and len(stub.comments_on(pr)) == 132
        assert "+ memory: 16384" in ours[0]["body"] and "4096" not in ours[0]["body"]
        assert "[workflow run](https://github.test/acme/infra/actions/runs/77)" in ours[0]["body"]
        assert stub.writes() == [
            ("POST", f"/repos/acme/infra/issues/{pr}/comments"),
            ("PATCH", f"/repos/acme/infra/issues/comments/{ours[0]['id']}"),
        ]
        assert not any(m == "GET" and "/pulls" in p for m, p in stub.requests)

    # On merge: apply the saved plan file.
    out = run_step(ws, env, "apply")
    assert out["exit_code"] == "0" and out["has_changes"] == "true", Path(out["markdown_file"]).read_text()
    assert str(cluster.vm(103).config["memory"]) == "16384"
    assert "Apply complete: 1 of 1 change(s) done." in Path(out["markdown_file"]).read_text()
    assert check_exit("apply", out["exit_code"]) == 0


def test_a_stale_plan_fails_the_apply_step(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    env = _env(tmp_path)
    edit_spec(ws, "db-1", memory=4096)
    assert run_step(ws, env, "plan")["exit_code"] == "2"
    cluster.vm(103).config["cores"] = 2  # changed on the cluster after the review
    out = run_step(ws, env, "apply")
    assert out["exit_code"] == "7"
    text = Path(out["markdown_file"]).read_text()
    assert "**pmpc apply failed (exit 7).**" in text and "stale" in text
    assert check_exit("apply", "7") == 7


def test_a_plan_error_is_reported_in_the_markdown_and_fails_last(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    (ws / "resources" / "vms" / "bad.yaml").write_text("kind: VM\nname: [oops\n")
    out = run_step(ws, _env(tmp_path), "plan")
    assert out["exit_code"] == "1" and out["has_changes"] == "false"
    text = Path(out["markdown_file"]).read_text()
    assert "**pmpc plan failed (exit 1).**" in text and "pmpc: error:" in text
    assert check_exit("plan", "1") == 1


@pytest.mark.parametrize(
    ("command", "code", "expected"),
    [("plan", "0", 0), ("plan", "2", 0), ("drift", "2", 0), ("apply", "2", 2), ("plan", "5", 5), ("drift", "", 1)],
)
def test_check_exit(command, code, expected):
    assert check_exit(command, code) == expected


def test_unknown_command_is_an_error(tmp_path):
    out = run_step(tmp_path, _env(tmp_path), "destroy")
    assert out["exit_code"] == "64"
    assert "Unknown command `destroy`" in Path(out["markdown_file"]).read_text()


def test_drift_opens_updates_then_closes_one_issue(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    env = _env(tmp_path)
    with serve_github() as stub:
        stub.add_issue("A pull request", "quotes <!-- pmpc-action: issue drift . -->", pull_request=True)
        stub.add_issue("Unrelated bug", "no marker here")

        def drift_issue() -> subprocess.CompletedProcess[str]:
            out = run_step(ws, env, "drift")
            return sticky(env, stub, "issue", "--key", "issue drift . ", "--body-file", out["markdown_file"],
                          "--has-changes", out["has_changes"], "--title", "pmpc: drift in .")  # fmt: skip

        quiet = drift_issue()
        assert quiet.returncode == 0 and "nothing to do" in quiet.stdout and stub.writes() == []

        cluster.vm(101).config["memory"] = 4096
        opened = drift_issue()
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout.strip() == "pmpc: opened issue #3"
        assert "- config.memory: 2048\n+ config.memory: 4096" in stub.issues[3]["body"]

        cluster.vm(102).status = "stopped"
        assert drift_issue().stdout.strip() == "pmpc: updated issue #3"
        assert "vm/102 (web-2)" in stub.issues[3]["body"] and len(stub.issues) == 3

        assert cli("--workspace", str(ws), "sync").exit_code == 0  # drift accepted: recorded
        assert drift_issue().stdout.strip() == "pmpc: closed issue #3"
        assert stub.issues[3]["state"] == "closed" and stub.issues[1]["state"] == "open"
        assert drift_issue().stdout.strip() == "pmpc: no drift and no open drift issue: nothing to do"


def test_comment_errors_are_one_line_and_outside_a_pull_request_nothing_is_sent(tmp_path):
    body = tmp_path / "plan.md"
    body.write_text("### pmpc plan\n")
    env = _env(tmp_path)
    with serve_github() as stub:
        pr = stub.add_issue("PR", pull_request=True)
        bad = sticky(env, stub, "comment", "--key", "plan", "--body-file", str(body), "--pr", str(pr),
                     GITHUB_TOKEN="wrong")  # fmt: skip
        assert bad.returncode == 1
        error = f'GET /issues/{pr}/comments?per_page=100&page=1 answered 401: {{"message": "Bad credentials"}}'
        assert bad.stderr.splitlines() == [f"::error::pmpc: {error}"]
        push = tmp_path / "push.json"
        push.write_text(json.dumps({"ref": "refs/heads/main"}))
        skipped = sticky(env, stub, "comment", "--key", "plan", "--body-file", str(body), GITHUB_EVENT_PATH=str(push))
        assert skipped.returncode == 0 and "not a pull request" in skipped.stdout
        assert stub.writes() == []


def test_a_body_over_githubs_limit_is_cut_to_fit(tmp_path):
    body = tmp_path / "huge.md"
    body.write_text("x" * 70_000)
    with serve_github() as stub:
        pr = stub.add_issue("PR", pull_request=True)
        result = sticky(_env(tmp_path), stub, "comment", "--key", "plan", "--body-file", str(body), "--pr", str(pr))
        assert result.returncode == 0, result.stderr
        posted = stub.comments_on(pr)[0]["body"]
        assert len(posted) <= 65_536 and "cut to fit GitHub's comment limit" in posted


FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for python3: `-m venv DIR` makes DIR/bin/python (logs pip's arguments) and DIR/bin/pmpc.
set -eu
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/usr/bin/env bash\\necho "$*" >>"%s"\\n' "$PIP_LOG" >"$3/bin/python"
  printf '#!/usr/bin/env bash\\necho "pmpc 9.9.9"\\n' >"$3/bin/pmpc"
  chmod +x "$3/bin/python" "$3/bin/pmpc"
fi
"""


@pytest.mark.parametrize(
    ("version", "requirement"),
    [
        ("latest", "proxmox-mpc[postgres]"),
        ("0.5.0", "proxmox-mpc[postgres]==0.5.0"),
        ("./dist/proxmox_mpc-0.5.0-py3-none-any.whl", "./dist/proxmox_mpc-0.5.0-py3-none-any.whl"),
    ],
    ids=["latest", "release", "path"],
)
def test_install_step_installs_the_requested_version_into_its_own_venv(tmp_path, version, requirement):
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "python3").write_text(FAKE_PYTHON)
    (shims / "python3").chmod(0o755)
    env = _env(tmp_path, PMPC_VERSION=version, PIP_LOG=str(tmp_path / "pip.log"),
               GITHUB_PATH=str(tmp_path / "github_path"))  # fmt: skip
    env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    result = subprocess.run(["bash", str(ACTION / "install.sh")], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pmpc 9.9.9\n"
    assert (tmp_path / "pip.log").read_text() == f"-m pip install --quiet --disable-pip-version-check {requirement}\n"
    venv_bin = Path(env["RUNNER_TEMP"]) / "pmpc-venv" / "bin"
    assert (tmp_path / "github_path").read_text() == f"{venv_bin}\n"
