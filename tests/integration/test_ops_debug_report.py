"""`pmpc debug` and `pmpc report-issue` against fakepve: complete, redacted, anonymised, offline-tolerant."""

from __future__ import annotations

import hashlib
import json
import re
import ssl
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.helpers.cluster import TOKEN_SECRET

# Everything of the fixture cluster a bug report must not reveal.
FIXTURE_NAMES = (
    "pve1",
    "pve2",
    "pve3",
    "fakecluster",
    "ubuntu-tmpl",
    "web-1",
    "web-2",
    "db-1",
    "batch-1",
    "dns-1",
    "cache-1",
)
FIXTURE_ADDRESSES = ("127.0.0.1", "192.0.2.11", "192.0.2.12", "192.0.2.13", "BC:24:11")


def fingerprint_of(cafile: str) -> str:
    der = ssl.PEM_cert_to_DER_cert(Path(cafile).read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def test_debug_report_has_every_section_and_no_secret(cluster, cli, fakepve_cafile):
    result = cli("debug")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for heading in (
        "## Versions",
        "## Workspace",
        "## Context (secrets redacted)",
        "## Connectivity",
        "## TLS",
        "## State store",
    ):
        assert heading in text
    assert re.search(r"^python: CPython 3\.\d+", text, re.M)
    assert "token_secret: ********" in text
    assert TOKEN_SECRET not in text
    assert "tcp: ok" in text and "api: ok" in text
    assert "version: 9.0.10" in text
    assert f"fingerprint: {fingerprint_of(fakepve_cafile)}" in text
    assert "verified: yes" in text
    assert result.stderr == ""


def test_debug_json_and_out_file(cluster, cli, tmp_path):
    result = cli("debug", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["connectivity"]["api_version"]["version"] == "9.0.10"
    assert data["context"]["token_secret"] == "********"
    assert data["state_store"]["available"] is True
    target = tmp_path / "debug.txt"
    written = cli("debug", "--out", str(target))
    assert written.exit_code == 0, written.output
    assert written.stdout == ""
    assert f"Wrote the diagnostics report to {target}" in written.stderr
    assert "## Connectivity" in target.read_text()
    assert target.stat().st_mode & 0o077 == 0


def test_debug_redacts_the_database_password_and_survives_an_unreachable_cluster(cli, monkeypatch):
    monkeypatch.setenv("PMPC_HOST", "https://127.0.0.1:9")
    monkeypatch.setenv("PMPC_TOKEN_ID", "root@pam!pmpc")
    monkeypatch.setenv("PMPC_TOKEN_SECRET", TOKEN_SECRET)
    monkeypatch.setenv("PMPC_DATABASE_URL", "postgresql+psycopg://pmpc:db-pass-123@127.0.0.1:9/pmpc")
    result = cli("debug", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["connectivity"]["tcp"].startswith("failed:")
    assert data["state_store"]["reachable"] is False
    assert data["state_store"]["url"] is None or "db-pass-123" not in data["state_store"]["url"]
    assert "db-pass-123" not in result.stdout + result.stderr
    assert TOKEN_SECRET not in result.stdout + result.stderr


def test_debug_reports_a_tls_failure_with_the_fingerprint(cluster, cli, monkeypatch, fakepve_cafile):
    monkeypatch.delenv("PMPC_CA_FILE")
    result = cli("debug", "-o", "json")
    assert result.exit_code == 0, result.output
    tls = json.loads(result.stdout)["connectivity"]["tls"]
    assert tls["verified"] is False
    assert "certificate" in tls["verify_error"].lower()
    assert tls["fingerprint"] == fingerprint_of(fakepve_cafile)
    assert json.loads(result.stdout)["connectivity"]["api"].startswith("failed: TLS verification")


def test_failed_commands_are_remembered_without_secrets(cluster, cli, isolated_env, tmp_path):
    bad = cli("vm", "list", "--password", "hunter2", "--token-secret=s3cr3t")
    assert bad.exit_code == 64
    log = (tmp_path / "home" / "xdg_state_home" / "pmpc" / "errors.jsonl").read_text()
    entry = json.loads(log.splitlines()[-1])
    assert entry["argv"] == ["vm", "list", "--password", "********", "--token-secret=********"]
    assert entry["exit_code"] == 64 and entry["kind"] == "usage"
    assert "hunter2" not in log and "s3cr3t" not in log


def test_report_issue_is_anonymised(cluster, cli, isolated_env):
    stopped = cli("node", "get", "pve9")  # an error that names the real nodes
    assert stopped.exit_code == 6
    result = cli("report-issue")
    assert result.exit_code == 0, result.output
    path_line, url_line = result.stdout.splitlines()
    path = Path(path_line)
    assert path.parent == isolated_env and path.name.startswith("pmpc-report-") and path.suffix == ".md"
    text = path.read_text()
    assert (
        "## Last command's error" in text and "## Diagnostics" in text and "## Recent cluster tasks" in text
    )
    # The user's own typo stays readable; the real node names it listed do not.
    assert "- command: `pmpc node get pve9`" in text
    assert re.search(r"No node named 'pve9' in this cluster \(nodes: host-\d, host-\d, host-\d\)", text), text
    for secret in (TOKEN_SECRET,):
        assert secret not in text and secret not in result.stdout + result.stderr
    lowered = text.lower()
    for name in FIXTURE_NAMES:
        assert not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", lowered), name
    assert "pve9" in lowered
    for address in FIXTURE_ADDRESSES:
        assert address.lower() not in lowered, address
    assert "ip-1" in text and "host-1" in text
    query = parse_qs(urlsplit(url_line).query)
    assert url_line.startswith("https://github.com/proxmox-mpc/proxmox-mpc/issues/new?")
    assert query["title"][0].startswith("pmpc node get ")
    assert "pve1" not in query["title"][0]
    assert "attach" in result.stderr


def test_report_issue_names_are_replaced_consistently(cluster, cli, isolated_env, tmp_path):
    cli("node", "get", "pve9")
    out = tmp_path / "report.md"
    result = cli("report-issue", "--out", str(out), "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["path"] == str(out)
    text = out.read_text()
    # The error lists the nodes; each keeps one placeholder everywhere it appears.
    listed = re.search(r"nodes: ([\w-]+), ([\w-]+), ([\w-]+)\)", text)
    assert listed, text
    assert len(set(listed.groups())) == 3
    assert text.count(listed.group(1)) >= 2
    assert data["replaced"]["ip"] >= 1


def test_report_issue_works_without_a_cluster(cli, monkeypatch, isolated_env):
    monkeypatch.setenv("PMPC_HOST", "https://10.99.0.1:9")
    monkeypatch.setenv("PMPC_TOKEN_ID", "root@pam!pmpc")
    monkeypatch.setenv("PMPC_TOKEN_SECRET", TOKEN_SECRET)
    monkeypatch.setenv("PMPC_TIMEOUT", "1")
    result = cli("report-issue")
    assert result.exit_code == 0, result.output
    text = Path(result.stdout.splitlines()[0]).read_text()
    assert "(the cluster could not be reached)" in text
    assert "10.99.0.1" not in text
    assert TOKEN_SECRET not in text


def test_debug_in_a_synced_workspace_reports_it_and_the_migration_level(cluster, cli, isolated_env):
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    result = cli("debug", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["workspace"]["path"] == str(isolated_env)
    assert data["workspace"]["manifests"] == 10  # 7 guests, the pool `prod`, the storages `local` and `local-lvm`
    assert data["workspace"]["state_db"] is True
    store = data["state_store"]
    assert store["reachable"] is True and store["revision"] == store["head"] is not None
    assert store["url"] == f"sqlite:///{isolated_env}/.pmpc/state.db"


def test_report_issue_anonymises_with_state_store_names_when_the_cluster_fails(cluster, cli, isolated_env):
    assert cli("init").exit_code == 0
    assert cli("sync").exit_code == 0
    assert cli("vm", "start", "web-1", "--bogus").exit_code == 64
    cluster.fail("GET", "/cluster/status", 500, "cluster not ready")
    cluster.fail("GET", "/cluster/resources", 500, "cluster not ready")
    result = cli("report-issue")
    assert result.exit_code == 0, result.output
    text = Path(result.stdout.splitlines()[0]).read_text()
    assert re.search(r"- command: `pmpc vm start guest-\d+ --bogus`", text), text
    assert "(the cluster could not be reached)" in text
    for name in ("web-1", "pve1", "127.0.0.1"):
        assert name not in text
