"""tools/release.py end to end in throw-away git repositories: version rules, changelog, commit and tag."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers.runner import Result

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "release.py"

pytestmark = pytest.mark.skipif(
    not TOOL.is_file() or shutil.which("git") is None, reason="needs git and tools/release.py (a checkout)"
)

PREAMBLE = """# Changelog

All notable changes to this project are documented in this file.

## [Unreleased]
"""
PYPROJECT = """[project]
name = "proxmox-mpc"
dynamic = ["version"]

[project.urls]
Homepage = "https://github.com/example/proxmox-mpc"

[tool.hatch.version]
path = "src/proxmox_mpc/__init__.py"
"""
URL = "https://github.com/example/proxmox-mpc"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pmpc_release_tool", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


class Repo:
    """A temporary git repository laid out like the project (version file, pyproject.toml, CHANGELOG.md)."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env
        self.count = 0

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=self.path, env=self.env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"git {args}: {proc.stderr}"
        return proc.stdout.strip()

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def read(self, rel: str) -> str:
        return (self.path / rel).read_text(encoding="utf-8")

    def commit(self, message: str, rel: str | None = None) -> str:
        """Commit a change to `rel` (a fresh file per commit by default) and return the full sha."""
        if rel is None:
            self.count += 1
            rel = f"notes/{self.count}.txt"
        self.write(rel, f"{message}\n")
        self.git("add", "--", rel)
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")

    def tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(TOOL), "--repo", str(self.path), *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def snapshot(self) -> tuple[str, str, str, str, str]:
        return (
            self.read("src/proxmox_mpc/__init__.py"),
            self.read("CHANGELOG.md"),
            self.git("rev-parse", "HEAD"),
            self.git("tag", "--list"),
            self.git("status", "--porcelain"),
        )


MakeRepo = Callable[..., Repo]


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Release Tester\n\temail = release@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgSign = false\n[tag]\n\tgpgSign = false\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=str(gitconfig), GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path))
    return env


@pytest.fixture
def make_repo(tmp_path: Path, git_env: dict[str, str]) -> MakeRepo:
    counter = iter(range(100))

    def make(version: str = "0.1.0", tag: bool = True, changelog: str = PREAMBLE) -> Repo:
        path = tmp_path / f"repo{next(counter)}"
        path.mkdir()
        repo = Repo(path, git_env)
        repo.git("init", "--quiet")
        repo.write("pyproject.toml", PYPROJECT)
        repo.write("src/proxmox_mpc/__init__.py", f'"""pkg."""\n\n__version__ = "{version}"\n')
        repo.write("CHANGELOG.md", changelog)
        repo.git("add", "--all")
        repo.git("commit", "--quiet", "-m", "chore: initial layout")
        if tag:
            repo.git("tag", "-a", f"v{version}", "-m", f"proxmox-mpc {version}")
        return repo

    return make


def test_dry_run_computes_version_and_changelog_and_changes_nothing(make_repo: MakeRepo) -> None:
    repo = make_repo("0.1.0")
    feat = repo.commit("feat(vm): add the clone command")
    fix = repo.commit("fix: an empty node list prints the header only")
    repo.commit("docs: explain contexts")
    repo.commit("update the readme")  # not a conventional message
    before = repo.snapshot()

    proc = repo.tool("release", "--dry-run", "--date", "2026-01-02")

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert "last tag:        v0.1.0" in out
    assert "current version: 0.1.0" in out
    assert "next version:    0.2.0" in out
    assert f"bump:            minor, from {feat[:7]} feat" in out
    assert "not conventional, left out:" in out and "update the readme" in out
    assert '-__version__ = "0.1.0"' in out and '+__version__ = "0.2.0"' in out
    assert "+## [0.2.0] - 2026-01-02" in out
    assert f"+- **vm:** add the clone command ({feat[:7]})" in out
    assert f"+- an empty node list prints the header only ({fix[:7]})" in out
    assert out.index("+### Added") < out.index("+### Fixed")
    assert "explain contexts" not in out
    assert f"+[0.2.0]: {URL}/compare/v0.1.0...v0.2.0" in out
    assert "git commit --quiet -m 'chore(release): 0.2.0'" in out
    assert "git tag -a --cleanup=verbatim v0.2.0" in out
    assert out.rstrip().endswith("dry run: nothing was changed")
    assert repo.snapshot() == before


@pytest.mark.parametrize(
    ("version", "messages", "expected"),
    [
        ("0.1.0", ["fix: a"], "0.1.1"),
        ("0.1.0", ["perf(api): fewer requests", "docs: x"], "0.1.1"),
        ("0.1.0", ["fix: a", "feat: b", "chore: c"], "0.2.0"),
        ("0.4.2", ["feat!: drop the old plan format"], "0.5.0"),  # major version zero: breaking -> minor
        ("0.4.2", ["fix: x\n\nBREAKING CHANGE: the state schema changed"], "0.5.0"),
        ("1.2.3", ["feat!: drop the old plan format"], "2.0.0"),
        ("1.2.3", ["fix: y\n\nBREAKING CHANGE: renamed a config key"], "2.0.0"),
        ("1.2.3", ["refactor(api)!: new client"], "2.0.0"),
        ("1.2.3", ["feat: z", "fix: w"], "1.3.0"),
        ("1.2.9", ["revert: undo the cache"], "1.2.10"),
    ],
)
def test_next_version_follows_conventional_commits(
    make_repo: MakeRepo, version: str, messages: list[str], expected: str
) -> None:
    repo = make_repo(version)
    for message in messages:
        repo.commit(message)

    proc = repo.tool("next")

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{expected}\n"
    assert proc.stderr == ""


def test_nothing_to_release_is_refused(make_repo: MakeRepo) -> None:
    repo = make_repo("0.3.0")
    repo.commit("docs: typo")
    repo.commit("chore(deps): bump")
    proc = repo.tool("release", "--dry-run")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "nothing to release" in proc.stderr and "v0.3.0" in proc.stderr


def test_first_release_is_the_version_in_the_file(make_repo: MakeRepo) -> None:
    repo = make_repo("0.1.0", tag=False)
    sha = repo.commit("feat: node commands")
    proc = repo.tool("release", "--dry-run", "--date", "2026-03-04")
    assert proc.returncode == 0, proc.stderr
    assert "last tag:        none (first release)" in proc.stdout
    assert "next version:    0.1.0" in proc.stdout
    assert f"+- node commands ({sha[:7]})" in proc.stdout
    assert f"+[0.1.0]: {URL}/releases/tag/v0.1.0" in proc.stdout


def test_increment_major_goes_to_1_0_0(make_repo: MakeRepo) -> None:
    repo = make_repo("0.9.4")
    repo.commit("feat: stable API")
    proc = repo.tool("next", "--increment", "major")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "1.0.0\n", "")


def test_release_writes_version_changelog_commit_and_annotated_tag(make_repo: MakeRepo) -> None:
    repo = make_repo("0.1.0")
    feat = repo.commit("feat(ct): container snapshots")
    fix = repo.commit("fix(security): never log the token secret")
    dep = repo.commit("feat: --all flag\n\nDEPRECATED: `pmpc vm list --every` is now --all")
    brk = repo.commit("feat(config)!: contexts file is YAML\n\nBREAKING CHANGE: convert contexts.toml")

    proc = repo.tool("release", "--date", "2026-02-03")

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "created commit" in proc.stdout and "tag v0.2.0" in proc.stdout
    assert repo.git("log", "-1", "--format=%s") == "chore(release): 0.2.0"
    assert repo.git("status", "--porcelain") == ""
    assert repo.git("cat-file", "-t", "v0.2.0") == "tag"  # annotated, not lightweight
    assert repo.git("rev-parse", "v0.2.0^{commit}") == repo.git("rev-parse", "HEAD")
    assert repo.git("show", "--name-only", "--format=", "HEAD").splitlines() == [
        "CHANGELOG.md",
        "src/proxmox_mpc/__init__.py",
    ]
    assert '__version__ = "0.2.0"' in repo.read("src/proxmox_mpc/__init__.py")

    expected = (
        "## [0.2.0] - 2026-02-03\n\n"
        "### Added\n\n"
        f"- **ct:** container snapshots ({feat[:7]})\n"
        f"- --all flag ({dep[:7]})\n"
        f"- **Breaking:** **config:** contexts file is YAML — convert contexts.toml ({brk[:7]})\n\n"
        "### Deprecated\n\n"
        f"- `pmpc vm list --every` is now --all ({dep[:7]})\n\n"
        "### Security\n\n"
        f"- **security:** never log the token secret ({fix[:7]})\n"
    )
    changelog = repo.read("CHANGELOG.md")
    assert changelog == (
        PREAMBLE + "\n" + expected + "\n"
        f"[Unreleased]: {URL}/compare/v0.2.0...HEAD\n"
        f"[0.2.0]: {URL}/compare/v0.1.0...v0.2.0\n"
    )
    # The tag message carries the section verbatim (git's default cleanup would drop the ### lines).
    tag_message = repo.git("tag", "-l", "--format=%(contents)", "v0.2.0")
    assert tag_message.startswith("proxmox-mpc 0.2.0\n\n## [0.2.0] - 2026-02-03")
    assert "### Added" in tag_message

    notes = repo.tool("notes", "v0.2.0")
    assert notes.returncode == 0 and notes.stderr == ""
    assert notes.stdout == expected.split("\n\n", 1)[1]

    check = repo.tool("check", "--tag", "v0.2.0")
    assert check.returncode == 0, check.stderr
    assert "v0.2.0 matches the package version" in check.stdout

    # A second release stacks on the first and keeps one [Unreleased] link.
    fix2 = repo.commit("fix: retry on 595")
    again = repo.tool("release", "--date", "2026-02-10")
    assert again.returncode == 0, again.stderr
    changelog = repo.read("CHANGELOG.md")
    assert changelog.index("## [0.2.1] - 2026-02-10") < changelog.index("## [0.2.0] - 2026-02-03")
    assert f"### Fixed\n\n- retry on 595 ({fix2[:7]})\n" in changelog
    assert changelog.count("[Unreleased]:") == 1
    assert f"[Unreleased]: {URL}/compare/v0.2.1...HEAD" in changelog
    assert f"[0.2.1]: {URL}/compare/v0.2.0...v0.2.1\n[0.2.0]: {URL}/compare/v0.1.0...v0.2.0\n" in changelog
    assert repo.git("tag", "--list") == "v0.1.0\nv0.2.0\nv0.2.1"


def test_check_refuses_a_tag_that_does_not_match_the_version(make_repo: MakeRepo) -> None:
    repo = make_repo("0.1.0")
    repo.commit("feat: x")
    assert repo.tool("release", "--date", "2026-02-03").returncode == 0
    repo.git("tag", "-a", "v0.3.0", "-m", "wrong")
    proc = repo.tool("check", "--tag", "v0.3.0")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "tag v0.3.0 does not match the package version 0.2.0" in proc.stderr
    assert "CHANGELOG.md has no section for 0.3.0" in proc.stderr
    bad = repo.tool("check", "--tag", "0.2.0")
    assert bad.returncode == 1 and "not vMAJOR.MINOR.PATCH" in bad.stderr


def test_check_refuses_a_dirty_changelog_and_a_lightweight_tag(make_repo: MakeRepo) -> None:
    repo = make_repo("0.1.0")
    repo.commit("feat: x")
    assert repo.tool("release", "--date", "2026-02-03").returncode == 0
    text = repo.read("CHANGELOG.md").replace("## [Unreleased]\n", "## [Unreleased]\n\n- hand-written note\n")
    repo.write("CHANGELOG.md", text)
    repo.git("commit", "--quiet", "-am", "docs: note")
    repo.git("tag", "-d", "v0.2.0")
    repo.git("tag", "v0.2.0")  # lightweight
    proc = repo.tool("check", "--tag", "v0.2.0")
    assert proc.returncode == 1
    assert "entries under [Unreleased]" in proc.stderr
    assert "lightweight tag" in proc.stderr


def test_release_refuses_unreleased_entries(make_repo: MakeRepo) -> None:
    repo = make_repo("0.1.0", changelog=PREAMBLE + "\n### Added\n\n- written by hand\n")
    repo.commit("feat: x")
    before = repo.snapshot()
    proc = repo.tool("release", "--dry-run")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "entries under [Unreleased]" in proc.stderr
    assert repo.snapshot() == before


def test_release_refuses_a_dirty_tree_and_a_hand_edited_version(make_repo: MakeRepo) -> None:
    repo = make_repo("0.1.0")
    repo.commit("fix: x", rel="src/proxmox_mpc/cli.py")
    repo.write("src/proxmox_mpc/cli.py", "changed\n")
    dirty = repo.tool("release")
    assert dirty.returncode == 1
    assert "uncommitted changes" in dirty.stderr
    assert repo.git("tag", "--list") == "v0.1.0"
    assert '__version__ = "0.1.0"' in repo.read("src/proxmox_mpc/__init__.py")
    # The dry run still shows the plan, with a warning.
    shown = repo.tool("release", "--dry-run")
    assert shown.returncode == 0 and "a real release would refuse" in shown.stdout

    repo.git("checkout", "--quiet", "--", "src/proxmox_mpc/cli.py")
    repo.write("src/proxmox_mpc/__init__.py", '__version__ = "0.7.0"\n')
    repo.git("commit", "--quiet", "-am", "chore: hand edit")
    edited = repo.tool("release", "--dry-run")
    assert edited.returncode == 1
    assert "says 0.7.0 but the last tag is v0.1.0" in edited.stderr


def test_release_push_sends_branch_and_tag(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo("1.0.0")
    remote = tmp_path / "remote.git"
    repo.git("init", "--quiet", "--bare", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "--quiet", "origin", "main", "v1.0.0")
    repo.commit("fix: x")
    proc = repo.tool("release", "--push", "--date", "2026-05-06")
    assert proc.returncode == 0, proc.stderr
    remote_refs = repo.git("ls-remote", "origin")
    assert "refs/tags/v1.0.1" in remote_refs
    assert f"{repo.git('rev-parse', 'HEAD')}\trefs/heads/main" in remote_refs


def test_parsing_and_bump_rules_as_functions() -> None:
    tool = load_tool()
    change = tool.parse_commit(
        tool.Commit(
            "a" * 40, "feat(api)!: new client", "Text.\n\nBREAKING CHANGE: one\ncontinues\n\nRefs: #1"
        )
    )
    assert (change.type, change.scope, change.subject) == ("feat", "api", "new client")
    assert change.breaking == "one continues"
    assert tool.parse_commit(tool.Commit("b" * 40, "Merge branch 'x'")) is None
    assert tool.parse_commit(tool.Commit("c" * 40, "feat:missing space")) is None
    assert tool.parse_commit(tool.Commit("d" * 40, "wip: not a type commitizen accepts")) is None
    assert tool.next_version("0.9.9", "major") == "0.10.0"
    assert tool.next_version("1.9.9", "major") == "2.0.0"
    assert tool.next_version("1.9.9", "minor") == "1.10.0"
    assert tool.bump_level([]) is None
    with pytest.raises(tool.ReleaseError):
        tool.parse_version("1.0")


def test_release_commit_message_passes_the_projects_commitizen_check() -> None:
    cz = shutil.which("cz") or str(Path(sys.executable).with_name("cz"))
    if not Path(cz).is_file():
        pytest.skip("commitizen is not installed (dev extra)")
    good = subprocess.run(
        [cz, "check", "--message", "chore(release): 0.2.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr + good.stdout
    bad = subprocess.run(
        [cz, "check", "--message", "updated stuff"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert bad.returncode != 0


def test_version_of_a_development_install_names_the_commit(cli: Callable[..., Result]) -> None:
    import proxmox_mpc

    if not Path(proxmox_mpc.__file__).resolve().is_relative_to(ROOT / "src") or not (ROOT / ".git").exists():
        pytest.skip("proxmox_mpc is not imported from this git checkout")
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    result = cli("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"pmpc {proxmox_mpc.__version__} (commit {commit})\n"
    assert result.stderr == ""


def test_a_failing_commit_hook_leaves_no_tag_and_says_how_to_undo(make_repo: MakeRepo) -> None:
    repo = make_repo("0.1.0")
    repo.commit("feat: x")
    hook = repo.path / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n", encoding="utf-8")
    hook.chmod(0o755)

    proc = repo.tool("release", "--date", "2026-02-03")

    assert proc.returncode == 1
    assert "hook says no" in proc.stderr
    assert "nothing was tagged; to undo what was done: git restore --staged --worktree --" in proc.stderr
    assert repo.git("tag", "--list") == "v0.1.0"
    assert repo.git("log", "-1", "--format=%s") == "feat: x"
    undo = proc.stderr.rsplit("to undo what was done: ", 1)[1].strip().split()
    repo.git(*undo[1:])
    assert repo.git("status", "--porcelain") == ""
