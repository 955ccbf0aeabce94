"""`pmpc demo` and `pmpc demo serve`: fakepve in its own process, its own CA, a `demo` context, a tour."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from proxmox_mpc.cli import build_app
from proxmox_mpc.commands.demo import _has_command
from proxmox_mpc.services.demo import guests_document, make_pki
from tests.helpers.signals import default_sigint


def _exists(line: str) -> bool:
    import typer

    root = typer.main.get_command(build_app())
    return _has_command(root, tuple(line.split()[2:]))


def test_tour_steps_are_looked_up_in_the_app_tree():
    import typer

    app = typer.Typer()
    group = typer.Typer()
    group.command("list")(lambda: None)
    app.add_typer(group, name="node")
    app.add_typer(typer.Typer(), name="vm")
    app.command("plan")(lambda: None)
    root = typer.main.get_command(app)
    assert _has_command(root, ("node", "list"))
    assert _has_command(root, ("plan", "--offline"))
    assert not _has_command(root, ("vm", "list", "-o", "json"))
    assert not _has_command(root, ("vm",))
    assert not _has_command(root, ("sync",))


def test_tour_steps_run_through_the_cli_error_edge():
    import io

    import click
    import typer

    from proxmox_mpc.cli import run_cli
    from proxmox_mpc.commands.demo import RUN_LINE_KEY, _run_step
    from proxmox_mpc.config import Settings
    from proxmox_mpc.context import AppContext

    ctx = typer.Context(click.Command("demo"))
    ctx.meta[RUN_LINE_KEY] = run_cli
    out, err = io.StringIO(), io.StringIO()
    step_ctx = AppContext(loader=Settings, out=out, err=err)
    # A failing step is reported by the edge, as on the command line, and the tour goes on.
    assert _run_step(ctx, step_ctx, ("vm", "list", "--bogus")) is False
    assert err.getvalue() == "pmpc: error: No such option: --bogus. See `pmpc vm list --help`.\n"
    assert _run_step(ctx, step_ctx, ("vm", "list", "--help")) is True
    assert err.getvalue().count("pmpc: error:") == 1


def _handshake(server_ctx, client_ctx, hostname: str) -> None:
    """A TLS handshake in memory; raises ssl.SSLError when the client refuses the server."""
    import ssl

    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def test_demo_pki_verifies_the_server_for_its_address_only(tmp_path):
    import ssl

    ca, cert, key = make_pki(tmp_path, "127.0.0.77")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    _handshake(server, ssl.create_default_context(cafile=str(ca)), "127.0.0.77")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, ssl.create_default_context(cafile=str(ca)), "127.0.0.78")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, ssl.create_default_context(), "127.0.0.77")


def contexts_file(tmp_path: Path) -> Path:
    return tmp_path / "home" / "xdg_config_home" / "pmpc" / "config.yaml"


def is_listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) == 0


def test_guests_document_is_a_realistic_mix():
    guests, pools = guests_document(vms=10, cts=5)
    vms = [g for g in guests if g.get("type", "qemu") == "qemu" and not g.get("template")]
    cts = [g for g in guests if g.get("type") == "lxc"]
    templates = [g for g in guests if g.get("template")]
    assert (len(vms), len(cts), len(templates)) == (10, 5, 2)
    assert {g["node"] for g in guests} == {"pve1", "pve2", "pve3"}
    assert {g["status"] for g in vms} == {"running", "stopped"}
    names = [g["name"] for g in guests]
    assert len(names) == len(set(names)) and len({g["vmid"] for g in guests}) == len(guests)
    assert all(g["config"].get("tags") for g in guests)
    assert set(pools) == {"prod", "staging", "dev", "infra"}
    assert sorted(v for members in pools.values() for v in members) == sorted(g["vmid"] for g in vms + cts)
    assert guests_document(0, 0)[0] == templates and guests_document(0, 0)[1] == {}


def test_demo_runs_the_tour_and_stops_the_cluster(cli, tmp_path, monkeypatch):
    # The tour must use the demo context alone, whatever PMPC_* says.
    monkeypatch.setenv("PMPC_HOST", "https://127.0.0.1:1")
    monkeypatch.setenv("PMPC_TOKEN_ID", "nobody@pam!x")
    result = cli("demo", "--vms", "4", "--cts", "2", "--time-scale", "0")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "3 nodes, 4 VMs, 2 containers and 2 templates" in out
    assert "\n$ pmpc node list\n" in out and "\n$ pmpc node describe pve1\n" in out
    listing = out.split("$ pmpc node list\n", 1)[1].splitlines()
    assert listing[0].split()[:2] == ["NAME", "STATUS"]
    assert [line.split()[0] for line in listing[1:4]] == ["pve1", "pve2", "pve3"]
    assert "pmpc: error" not in result.stderr
    # Every step of the tour that exists in the app tree ran (a failed step fails the demo).
    steps = ("$ pmpc vm list", "$ pmpc vm stop web-1 -y", "$ pmpc vm start web-1 -y", "$ pmpc sync --import")
    for line in steps:
        assert ("\n" + line + "\n" in out) == _exists(line), line
    if _exists("$ pmpc plan"):
        # Every kind the demo cluster holds imports to manifests that match it exactly.
        first = out.split("# Right after the import, manifests and cluster agree\n$ pmpc plan\n", 1)[1]
        assert first.startswith("No changes: the cluster matches the manifests."), first[:2000]
        assert "memory: 2048 -> 4096" in out
        # The non-guest change: a firewall rule added, planned at its place, applied, and nothing left.
        fw = out.split("# Not only guests: open HTTPS in the cluster firewall", 1)[1]
        assert "~ firewall/cluster\n      + rules[4]: in ACCEPT proto=tcp dport=443 # HTTPS\n" in fw
        assert "firewall/cluster: update done" in fw
        last = fw.split("# Nothing left to do\n$ pmpc plan\n", 1)[1].split("That was the tour", 1)[0]
        assert "No changes: the cluster matches the manifests." in last
    # The objects beyond guests, through their list verbs or, until a kind has them, the API.
    assert "nightly" in out.split("# The backup jobs\n", 1)[1].split("\n# ", 1)[0]
    assert "vm:103" in out.split("# What HA keeps running\n", 1)[1].split("\n# ", 1)[0]
    assert "alice@pve" in out.split("# The users\n", 1)[1].split("\n# ", 1)[0]

    data = yaml.safe_load(contexts_file(tmp_path).read_text())
    demo = data["contexts"]["demo"]
    assert stat.S_IMODE(contexts_file(tmp_path).stat().st_mode) == 0o600
    assert demo["host"].startswith("127.0.0.") and demo["user"] == "root@pam" and demo["verify_tls"] is True
    ca_file = Path(demo["ca_file"])
    assert ca_file.is_relative_to(tmp_path / "home" / "xdg_state_home" / "pmpc" / "demo")
    assert not ca_file.parent.exists()  # the cluster's files went with it
    assert demo["password"] not in out + result.stderr
    assert data["current-context"] == "demo"
    assert not is_listening(demo["host"], demo["port"])


def test_demo_serve_keeps_the_cluster_up_until_ctrl_c(cli, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMPC_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxmox_mpc",
            "demo",
            "serve",
            "--vms",
            "3",
            "--cts",
            "1",
            "--time-scale",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=default_sigint,
    )
    try:
        banner = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stderr.readline() if process.stderr else ""
            if not line:
                break
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert banner and banner[-1].startswith("Press Ctrl-C"), "".join(banner)
        assert "pmpc --context demo vm list" in "".join(banner)

        listed = cli("--context", "demo", "node", "list", "-o", "json")
        assert listed.exit_code == 0, listed.output
        assert [n["name"] for n in json.loads(listed.stdout)] == ["pve1", "pve2", "pve3"]
        demo = yaml.safe_load(contexts_file(tmp_path).read_text())["contexts"]["demo"]
        assert is_listening(demo["host"], demo["port"])
        assert Path(demo["ca_file"]).is_file()

        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert stdout == ""
    assert stderr.strip().endswith("Demo cluster stopped.")
    assert not is_listening(demo["host"], demo["port"])


def test_demo_without_the_extra_says_how_to_install_it(cli, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fakepve" else real(name, *a)
    )
    result = cli("demo")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "pmpc: error: pmpc demo needs the demo extra: pip install 'proxmox-mpc[demo]'"
        " (fakepve is not installed).\n"
    )


@pytest.mark.parametrize("flag", ["--vms", "--cts"])
def test_negative_counts_are_usage_errors(cli, flag):
    result = cli("demo", flag, "-1")
    assert result.exit_code == 64
    assert result.stdout == ""


def test_pmpc_never_imports_fakepve():
    import re

    import proxmox_mpc

    source = Path(proxmox_mpc.__file__).parent
    pattern = re.compile(r"^\s*(import|from)\s+fakepve\b", re.M)
    offenders = [str(p.relative_to(source)) for p in source.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
