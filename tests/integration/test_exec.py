"""`pmpc vm exec` against fakepve's guest agent: the command's exit code and output; a hung agent is exit 8."""

from __future__ import annotations

import json
import time

import pytest


@pytest.fixture
def agent_vm(cluster):
    vm = cluster.vm(101)
    vm.agent = {
        "exec": {
            "systemctl is-active nginx": {"exitcode": 3, "out-data": "inactive\n", "err-data": "unit stopped\n"},
            "uname -a": {"exitcode": 0, "out-data": "Linux web-1 6.12.0 x86_64 GNU/Linux\n"},
        }
    }
    return vm


def test_exec_exits_with_the_command_s_code_and_streams_its_output(agent_vm, cli):
    result = cli("vm", "exec", "web-1", "--", "systemctl", "is-active", "nginx")
    assert result.exit_code == 3, result.output
    assert result.stdout == "inactive\n"
    assert result.stderr == "unit stopped\n"
    assert agent_vm.agent_requests[0] == ("exec", {"command": ["systemctl", "is-active", "nginx"]})
    assert agent_vm.agent_requests[1][0] == "exec-status"


def test_exec_json_reports_exit_code_stdout_and_stderr(agent_vm, cli):
    result = cli("vm", "exec", "101", "-o", "json", "--", "uname", "-a")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "exit_code": 0,
        "stdout": "Linux web-1 6.12.0 x86_64 GNU/Linux\n",
        "stderr": "",
    }
    failing = cli("vm", "exec", "101", "-o", "json", "--", "systemctl", "is-active", "nginx")
    assert failing.exit_code == 3
    assert json.loads(failing.stdout)["exit_code"] == 3


def test_a_hung_agent_is_exit_8(agent_vm, cli):
    agent_vm.agent_hangs = True
    result = cli("vm", "exec", "101", "--timeout", "5", "--", "uname", "-a")
    assert result.exit_code == 8, result.output
    assert "guest agent did not answer" in result.stderr
    assert result.stdout == ""


@pytest.mark.fakepve(time_scale=1)
def test_a_hung_agent_ends_within_the_timeout(agent_vm, cli):
    # The fake's agent stays silent for 10 PVE seconds (10 s here) before it reports the hang itself.
    agent_vm.agent_hangs = True
    started = time.monotonic()
    result = cli("vm", "exec", "101", "--timeout", "1", "--", "uname", "-a")
    assert result.exit_code == 8, result.output
    assert "still busy after 1s" in result.stderr
    assert time.monotonic() - started < 9


def test_no_agent_is_an_error_that_says_what_to_do(cluster, cli):
    result = cli("vm", "exec", "102", "--", "true")
    assert result.exit_code == 1, result.output
    assert "guest agent is not running" in result.stderr


def test_exec_needs_a_command_and_a_vm(agent_vm, cli):
    missing = cli("vm", "exec", "101")
    assert missing.exit_code == 64, missing.output
    assert "Give the command after --" in missing.stderr
    unknown = cli("vm", "exec", "999", "--", "true")
    assert unknown.exit_code == 6, unknown.output
    assert cli("ct", "exec", "201", "--", "true").exit_code == 64
