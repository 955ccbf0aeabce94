"""Every example in README.md and docs/*.md that starts with `pmpc` runs against the fake cluster.

An example is a line of a fenced code block, or an inline code span, that starts with `pmpc`. Synopses
are not examples: a line with placeholders (`GUEST...`, `[--vmid ID]`, `a|b`, `init*`) is skipped; an
inline span that only names a command (`pmpc destroy` in a sentence) must answer `--help`. Each
document runs in order, as a reader would type it, in a workspace synced from the fixture cluster
(with the fake's guest agent answering for web-1 and web-2, and backups that store volumes).

To mark an example that cannot run here, add its exact text (comment stripped) to MARKED with the
reason; to accept another exit code, add it to EXIT_CODES. A mutating example without `-y` is run a
second time with `-y` when it stopped only to ask for confirmation (the tests have no terminal).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.backups import enable_backups
from tests.helpers.runner import invoke

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PIPED_TOOLS = ("jq", "grep", "head", "tail", "less", "wc", "sort", "tee", "xargs", "python", "python3")

# Examples that cannot run against the fake in a test, and why.
MARKED: dict[str, str] = {
    "pmpc console": "interactive: tests/integration/test_console.py drives it on a pseudo-terminal",
    "pmpc demo serve": "runs until Ctrl-C: tests/integration/test_demo.py covers it",
    "pmpc demo": "starts its own simulated cluster: tests/integration/test_demo.py covers it",
    "pmpc vm list -w": "watches until Ctrl-C: tests/integration/test_watch_wait.py covers it",
    "pmpc logs -g web-1 -f": "follows until Ctrl-C: tests/integration/test_ops_logs.py covers it",
    "pmpc config set-context prod --host pve1.example.com --token-id 'pmpc@pve!cli' --token-secret-stdin --trust":
        "needs a real cluster: --trust fetches the certificate of pve1.example.com",
    "pmpc config set-context prod --trust": "needs a real cluster: fetches the server's certificate",
    "pmpc config set-context prod --host pve1.example.com --token-id 'pmpc@pve!cli' "
    "--token-secret-file ~/.pve-token": "reads the reader's own token file, ~/.pve-token",
}  # fmt: skip
# Examples whose documented outcome is not exit 0.
EXIT_CODES: dict[str, set[int]] = {
    "pmpc apply web-1.yaml": {64},  # manifests.md: a manifest is not a saved plan (the hint names -f)
}
# Files an example expects in the current directory: name -> the workspace file to copy there.
FILES: dict[str, dict[str, str]] = {
    "pmpc apply web-1.yaml": {"web-1.yaml": "resources/vms/web-1.yaml"},
}


@dataclass(frozen=True)
class Example:
    document: str
    line: int
    text: str
    inline: bool = False

    @property
    def reference(self) -> bool:
        """An inline span that only names a command (`pmpc destroy`) refers to it: its --help must work."""
        return self.inline and all(re.fullmatch(r"[a-z][a-z-]*", w) for w in self.text.split()[1:])

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.text}"


def _command_part(text: str) -> str:
    """Cut an example at shell syntax: comments, pipes into tools, redirections, `;`, `&&`."""
    text = re.split(r"\s+#\s", " " + text + " ", maxsplit=1)[0].strip()
    for separator in (" && ", "; ", " > ", " >> ", " 2>"):
        text = text.split(separator, 1)[0]
    head, bar, tail = text.partition(" | ")
    if bar and tail.split()[0] in PIPED_TOOLS:
        text = head
    return text.strip()


def is_synopsis(text: str) -> bool:
    """Return True for a synopsis line (placeholders, alternatives), which is not an example to run."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "''", text)  # quoted values (selectors, templates) are data
    if re.search(r"[\[\]{}<>()*]|\.\.\.|\||\bpmpc\s+\S+\s{2,}", text):
        return True
    return bool(re.search(r"(?<![\w/.=-])[A-Z][A-Z_]+(?![\w-])", text))


def examples(path: Path) -> list[Example]:
    """Return the `pmpc` examples of a Markdown file, in order."""
    found: list[Example] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    in_block = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            in_block = not in_block
        elif in_block:
            text = line.strip().removeprefix("$ ")
            start = i
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1].rstrip() + " " + lines[i].strip()
            if text.startswith("pmpc ") or text == "pmpc":
                found.append(Example(path.name, start + 1, _command_part(text)))
        else:
            for span in re.findall(r"`(pmpc(?: [^`]*)?)`", line):
                found.append(Example(path.name, i + 1, _command_part(span), inline=True))
        i += 1
    return [e for e in found if not is_synopsis(e.text)]


def test_the_extractor_finds_examples_and_skips_synopses():
    assert is_synopsis("pmpc vm|ct unlock GUEST... [-l SELECTOR] [--force]")
    assert is_synopsis("pmpc node      list | get | describe | status")
    assert is_synopsis("pmpc vm exec GUEST -- CMD")
    assert not is_synopsis("pmpc vm list -l tag=web")
    assert not is_synopsis("pmpc api get /cluster/resources type=vm -o yaml")
    assert not is_synopsis("pmpc vm list -l 'tag in (web,db)' -o jsonpath='{.items[*].name}'")
    assert _command_part("pmpc vm list -o json | jq '.[].name'") == "pmpc vm list -o json"
    assert _command_part("pmpc init infra && cd infra") == "pmpc init infra"
    assert _command_part("pmpc sync   # state store") == "pmpc sync"
    found = [e.text for d in DOCUMENTS for e in examples(d)]
    assert "pmpc vm describe web-1" in found and len(found) > 100


def _run(example: Example) -> tuple[int, str]:
    args = shlex.split(example.text)[1:] + (["--help"] if example.reference else [])
    result = invoke(*args)
    if result.exit_code == 4 and "--yes" in result.stderr and "-y" not in args and "--yes" not in args:
        result = invoke(*args, "-y")
    return result.exit_code, result.output


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_example_runs(document, cluster, cli, tmp_path, monkeypatch):
    cluster.add_vm(110, "ci-runner-1", node="pve1", status="running", config={"cores": 1, "memory": 1024})
    cluster.vm(101).agent = {}
    cluster.vm(102).agent = {}
    enable_backups(cluster)
    workspace = tmp_path / "docs"
    assert cli("init", str(workspace), "--name", "docs").exit_code == 0
    monkeypatch.chdir(workspace)
    assert cli("sync", "--import").exit_code == 0
    for name in ("demo", "prod", "lab"):
        assert cli("config", "set-context", name).exit_code == 0  # the environment points them at the fake
    failures = []
    for example in examples(document):
        if example.text in MARKED:
            continue
        for name, source in FILES.get(example.text, {}).items():
            Path(name).write_bytes((workspace / source).read_bytes())
        code, output = _run(example)
        if code not in EXIT_CODES.get(example.text, {0}):
            failures.append(f"{example}\n{output}")
        if example.text.startswith("pmpc init ") and "&& cd " in document.read_text(encoding="utf-8"):
            target = workspace / example.text.split()[2]
            if target.is_dir():
                monkeypatch.chdir(target)
    assert not failures, f"{len(failures)} example(s) failed:\n\n" + "\n\n".join(failures)
