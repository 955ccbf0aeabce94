"""Hypothesis over manifest text and plan JSON: a SPEC exit code, one sentence, never a traceback.

Each example runs the real CLI in-process (`validate --offline` on a workspace holding the text,
`apply FILE -y` on a plan file) without a cluster: whatever the bytes, pmpc must answer with a code
of the exit-code table and a clear message, never "internal error".
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxmox_mpc.errors import ExitCode
from tests.helpers.runner import Result, invoke

SPEC_CODES = {int(code) for code in ExitCode}

YAML_TOKENS = [
    "kind: VM\n", "kind: CT\n", "name: web-1\n", "node: pve1\n", "vmid: 101\n", "spec:\n", "  cores: ",
    "  memory: ", "  disks:\n", "  - slot: scsi0\n", "    size: ", "99999999999999999999T", "1e400",
    "&a ", "*a", "[", "]", "{", "}", ", ", ": ", "- ", "  ", "\n", "---\n", "...\n", "'", '"', "\\",
    "!!python/object:os.system ", "!!binary ", "? ", "|\n", ">\n", "\x00", "\t", "\ufeff", "#",
    "10", "-1", "0x10", "yes", "null", "~", "2026-12-06", "web-1\n", "a" * 300,
]
manifest_texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(YAML_TOKENS), max_size=60).map("".join),
    st.integers(1, 3000).map(lambda n: "kind: VM\nname: x\nnode: n\nspec:\n  config:\n    a: " + "[" * n + "]" * n),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
plan_like = st.fixed_dictionaries(
    {
        "format_version": st.sampled_from(["1.0", "2", 1, None]),
        "changes": st.lists(
            st.fixed_dictionaries(
                {"address": st.text(max_size=12), "action": st.text(max_size=8), "fields": json_values}
            ),
            max_size=3,
        ),
    }
)
plan_texts = st.one_of(
    st.text(max_size=300),
    json_values.map(json.dumps),
    plan_like.map(json.dumps),
    st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n),
)


@contextmanager
def _workspace() -> Iterator[Path]:
    before = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="pmpc-fuzz-") as tmp:
        root = Path(tmp)
        (root / "pmpc.yaml").write_text("name: fuzz\n", encoding="utf-8")
        (root / "resources" / "vms").mkdir(parents=True)
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(before)


def _check(result: Result, allowed_prefix: str | None = None) -> None:
    assert result.exit_code in SPEC_CODES, result.output
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.output
    lines = result.stderr.splitlines()
    free = [line for line in lines if allowed_prefix is None or not line.startswith(allowed_prefix)]
    assert len(free) <= 1, result.output
    if result.exit_code != 0:
        assert free and free[0].startswith("pmpc: error: "), result.output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=manifest_texts)
def test_any_manifest_text_gets_a_spec_exit_code_and_one_sentence(text):
    with _workspace() as root:
        (root / "resources" / "vms" / "fuzz.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        result = invoke("validate", "--offline")
    # One sentence, then (by SPEC) one `FILE:LINE:COLUMN: field: message` line per further problem.
    _check(result, allowed_prefix="resources/vms/fuzz.yaml:")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=plan_texts)
def test_any_plan_file_gets_a_spec_exit_code_and_one_sentence(text):
    with _workspace() as root:
        (root / "plan.json").write_text(text, encoding="utf-8", errors="surrogatepass")
        result = invoke("apply", "plan.json", "-y")
    _check(result)  # an empty, well-formed plan applies nothing and exits 0
