"""Untrusted YAML and JSON with real files: aliases, deep nesting and NUL bytes are one clear error.

Every bomb here would need gigabytes or end in RecursionError if it were built; each test runs
under a few-second alarm and checks the process's peak memory (`resource.getrusage`) barely moved.
"""

from __future__ import annotations

import json
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml
from tests.helpers.runner import invoke

from proxmox_mpc.safeio import untrusted
from proxmox_mpc.safeio.untrusted import MAX_DEPTH, InputLimitError, load_json, load_yaml
from proxmox_mpc.services.manifests import parse_text

SECONDS = 5
MAX_GROWTH_KIB = 100 * 1024


@contextmanager
def bounded() -> Iterator[None]:
    """Fail when the body runs longer than SECONDS or grows the peak RSS by more than 100 MiB."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"took more than {SECONDS} s")

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < MAX_GROWTH_KIB, f"peak RSS grew by {grown} KiB"


def laughs(levels: int = 12, indent: str = "") -> str:
    """A billion-laughs document: 9**levels strings from a kilobyte of text."""
    lines = [f'{indent}l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        refs = ",".join([f"*l{n - 1}"] * 9)
        lines.append(f"{indent}l{n}: &l{n} [{refs}]")
    return "\n".join(lines) + "\n"


MANIFEST_HEAD = "kind: VM\nname: web-1\nnode: pve1\nspec:\n  config:\n"
ALIAS_BOMB = MANIFEST_HEAD + laughs(indent="    ")
FLOW_5000 = MANIFEST_HEAD + "    deep: " + "[" * 5000 + "]" * 5000 + "\n"
BLOCK_5000 = MANIFEST_HEAD + "".join(" " * (4 + i) + f"k{i}:\n" for i in range(5000)) + " " * 5004 + "x\n"
COMPACT_70 = MANIFEST_HEAD + "    deep:\n" + "    " + "- " * 70 + "x\n"
FLOW_65 = "[" * 65 + "]" * 65 + "\n"
FLOW_64 = "[" * 64 + "]" * 64 + "\n"
NUL = MANIFEST_HEAD + "    note: a\x00b\n"
SMALL_ALIAS = MANIFEST_HEAD + "    a: &x 1\n    b: *x\n"

# (id, text, line of the error, words of the message)
MANIFESTS = [
    ("alias-bomb", ALIAS_BOMB, 7, "aliases are not allowed"),
    ("one-alias", SMALL_ALIAS, 7, "aliases are not allowed (*x)"),
    ("flow-5000-deep", FLOW_5000, 6, f"deeper than {MAX_DEPTH} levels"),
    ("block-5000-deep", BLOCK_5000, None, f"deeper than {MAX_DEPTH} levels"),
    ("compact-70-deep", COMPACT_70, 7, f"deeper than {MAX_DEPTH} levels"),
    ("nul-byte", NUL, 6, "NUL byte"),
]


@pytest.mark.parametrize(("text", "line", "words"), [m[1:] for m in MANIFESTS], ids=[m[0] for m in MANIFESTS])
def test_a_hostile_manifest_is_one_problem_naming_file_and_line(text, line, words):
    with bounded():
        loaded, problems = parse_text(text, "resources/vms/web-1.yaml")
    assert loaded == []
    assert len(problems) == 1
    problem = problems[0]
    assert problem.path == "resources/vms/web-1.yaml" and words in problem.message
    if line is not None:
        assert problem.line == line
    assert "\n" not in str(problem)


@pytest.mark.parametrize(("text", "line", "words"), [m[1:] for m in MANIFESTS], ids=[m[0] for m in MANIFESTS])
def test_validate_refuses_a_hostile_manifest_in_one_line(tmp_path, monkeypatch, text, line, words):
    (tmp_path / "pmpc.yaml").write_text("name: ws\n", encoding="utf-8")
    path = tmp_path / "resources" / "vms" / "web-1.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with bounded():
        result = invoke("validate", "--offline")
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "web-1.yaml:" in lines[0], result.output
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


CONFIG_TEXTS = [
    ("alias-bomb", "contexts:\n  lab:\n" + laughs(indent="    "), "aliases are not allowed"),
    ("flow-5000-deep", "contexts: " + "[" * 5000 + "]" * 5000 + "\n", f"deeper than {MAX_DEPTH} levels"),
    ("nul-byte", "current-context: lab\x00\n", "NUL byte"),
    ("bad-yaml", "contexts: [\n", "line 2"),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in CONFIG_TEXTS], ids=[c[0] for c in CONFIG_TEXTS])
@pytest.mark.parametrize("where", ["contexts-file", "pmpc.yaml"])
def test_hostile_settings_files_are_one_sentence(tmp_path, monkeypatch, text, words, where):
    if where == "contexts-file":
        path = tmp_path / "contexts.yaml"
        monkeypatch.setenv("PMPC_CONFIG", str(path))
    else:
        path = tmp_path / "pmpc.yaml"
        monkeypatch.chdir(tmp_path)
    path.write_text(text, encoding="utf-8")
    with bounded():
        result = invoke(*(("config", "view") if where == "contexts-file" else ("state", "show")))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and str(path) in lines[0], result.output


def test_the_limit_is_64_levels_exactly():
    assert load_yaml(FLOW_64) is not None
    with pytest.raises(InputLimitError, match="deeper than 64"):
        load_yaml(FLOW_65)


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure-python"])
def test_both_parsers_refuse_the_same_inputs(monkeypatch, libyaml):
    if libyaml and not untrusted.LIBYAML:
        pytest.skip("PyYAML was built without LibYAML")
    if not libyaml:
        # The pure-Python fallback: what runs where PyYAML has no LibYAML.
        monkeypatch.setattr(untrusted, "LIBYAML", False)
        monkeypatch.setattr(untrusted, "SafeLoader", yaml.SafeLoader)
    for _, text, line, words in MANIFESTS:
        with bounded():
            _, problems = parse_text(text, "m.yaml")
        assert len(problems) == 1 and words in problems[0].message
        if line is not None:
            assert problems[0].line == line
    loaded, problems = parse_text(MANIFEST_HEAD + "    a: 1\n", "m.yaml")
    assert problems == [] and loaded[0].manifest.spec.config == {"a": 1}


def test_values_and_positions_match_the_reference_parser():
    text = (
        "kind: VM\nname: web-1\nnode: pve1\nvmid: 101\nspec:\n  cores: 2\n  memory: 0x800\n"
        "  tags: [web, 'db']\n  config: {onboot: yes, description: null, when: 2026-12-06}\n"
    )
    (loaded,), problems = parse_text(text, "m.yaml")[0], parse_text(text, "m.yaml")[1]
    assert problems == []
    reference = yaml.safe_load(text)
    assert loaded.manifest.spec.memory == reference["spec"]["memory"] == 2048
    assert loaded.source.where(("spec", "memory")) == (7, 11)
    assert loaded.source.where(("spec", "tags", 1)) == (8, 15)


def test_a_duplicate_key_is_still_reported():
    _, problems = parse_text("kind: VM\nname: a\nname: b\nnode: pve1\n", "m.yaml")
    assert [(p.line, p.field, p.message) for p in problems] == [(3, "name", "duplicate key")]


JSON_TEXTS = [
    ("100k-deep", "[" * 100_000 + "]" * 100_000),
    ("65-deep", "[" * 65 + "]" * 65),
    ("deep-object", '{"a":' * 70 + "1" + "}" * 70),
    ("nul-byte", '{"format_version": "1.0"\x00}'),
]


@pytest.mark.parametrize("text", [t for _, t in JSON_TEXTS], ids=[i for i, _ in JSON_TEXTS])
def test_hostile_json_is_refused(text):
    with bounded(), pytest.raises(InputLimitError):
        load_json(text)


@pytest.mark.parametrize("text", [t for _, t in JSON_TEXTS], ids=[i for i, _ in JSON_TEXTS])
def test_apply_refuses_a_hostile_plan_file_in_one_line(tmp_path, text):
    path = tmp_path / "plan.json"
    path.write_text(text, encoding="utf-8")
    with bounded():
        result = invoke("apply", str(path), "-y")
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], result.output
    assert "internal error" not in result.stderr


def test_a_sane_plan_document_is_not_refused_for_its_depth():
    document = {"changes": [{"fields": [{"old": {"a": [1, {"b": 2}]}}]}]}
    assert load_json(json.dumps(document)) == document


def test_a_file_that_is_not_utf8_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "pmpc.yaml").write_text("name: ws\n", encoding="utf-8")
    path = tmp_path / "resources" / "vms" / "bin.yaml"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe\x00binary")
    monkeypatch.chdir(tmp_path)
    result = invoke("validate", "--offline")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output


def test_the_manifest_path_is_not_given_a_slow_pre_pass():
    """Plain manifests skip the event scan (speed): only `*` or a long text asks for it."""
    assert not untrusted.needs_scan(MANIFEST_HEAD + "    a: 1\n") or not untrusted.LIBYAML
    assert untrusted.needs_scan(SMALL_ALIAS)
    assert untrusted.needs_scan("x: " + "y" * (untrusted.QUICK_LIMIT + 1))
