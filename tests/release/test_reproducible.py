"""Reproducible builds and the installed wheel: byte-identical wheels under SOURCE_DATE_EPOCH, and a wheel
installed into a fresh virtual environment whose `pmpc` console script runs."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EPOCH = 1_700_000_000  # 2023-11-14 22:13:20 UTC
# What the wheel is built from (what hatchling reads); copied so concurrent edits cannot change a build.
SOURCES = ("pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "src")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("build") is None, reason="needs the `build` package (dev extra)"
    ),
]


def copy_tree(dest: Path, mtime: float | None = None) -> Path:
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, dest / name)
    if mtime is not None:  # a fresh checkout has other file times than the first one
        for path in [dest, *dest.rglob("*")]:
            os.utime(path, (mtime, mtime))
    return dest


def build_wheel(source: Path, outdir: Path, epoch: int = EPOCH) -> Path:
    """`python -m build --wheel` of `source`; without isolation (no network) when hatchling is installed."""
    cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(source)]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.insert(3, "--no-isolation")
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(outdir.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("build-a")
    return build_wheel(copy_tree(base / "src-a"), base / "dist")


def test_wheel_is_byte_identical_across_builds(wheel: Path, tmp_path: Path) -> None:
    # Same files, another directory, other modification times: the bytes must not change.
    later = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    again = build_wheel(copy_tree(tmp_path / "src-b", mtime=later), tmp_path / "dist")
    assert again.name == wheel.name
    assert again.read_bytes() == wheel.read_bytes()
    # ...and the timestamps inside are SOURCE_DATE_EPOCH's, not the files' or the clock's.
    stamp = dt.datetime.fromtimestamp(EPOCH, tz=dt.timezone.utc)
    with zipfile.ZipFile(wheel) as archive:
        times = {info.date_time for info in archive.infolist()}
    assert times == {(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)}


def test_source_date_epoch_is_what_pins_the_bytes(wheel: Path, tmp_path: Path) -> None:
    # The control for the test above: another SOURCE_DATE_EPOCH gives another wheel.
    other = build_wheel(copy_tree(tmp_path / "src-c"), tmp_path / "dist", epoch=EPOCH + 86_400)
    assert other.name == wheel.name
    assert other.read_bytes() != wheel.read_bytes()


def make_venv_with_wheel(wheel: Path, venv: Path) -> Path:
    """A fresh venv with the wheel installed by pip (console script included) and nothing else of the project.

    The wheel's dependencies are not downloaded: a `.pth` file makes this interpreter's site-packages
    visible after the venv's own, where every dependency is already installed. The editable install of
    proxmox-mpc that lives there is inert (its own `.pth` hook is not processed from a `.pth`-added
    directory), so `proxmox_mpc` can only come from the installed wheel; the test asserts that.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "_pmpc_test_deps.pth").write_text(
        "".join(f"{path}\n" for path in sorted(deps)), encoding="utf-8"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def clean_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "NO_COLOR": "1"}


def test_installed_wheel_console_script_runs(wheel: Path, tmp_path: Path) -> None:
    venv = make_venv_with_wheel(wheel, tmp_path / "venv")
    pmpc = venv / "bin" / "pmpc"
    assert pmpc.is_file(), "pip did not create the console script from the wheel's entry points"
    env = clean_env(tmp_path)
    version = wheel.name.split("-")[1]

    helped = subprocess.run(
        [str(pmpc), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert helped.returncode == 0, helped.stderr
    assert helped.stderr == ""
    assert "Usage: pmpc" in helped.stdout
    assert "node" in helped.stdout

    shown = subprocess.run(
        [str(pmpc), "--version"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, f"pmpc {version}\n", "")

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import proxmox_mpc; print(proxmox_mpc.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).resolve().is_relative_to(venv.resolve())

    # Every runtime dependency the wheel declares is satisfied where the venv looks.
    with zipfile.ZipFile(wheel) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(meta_name).decode())
    requires = [req for req in metadata.get_all("Requires-Dist") or [] if "extra ==" not in req]
    assert requires, "the wheel declares no dependencies"
    script = textwrap.dedent(
        """
        import sys
        from importlib.metadata import version
        from packaging.requirements import Requirement

        bad = []
        for line in sys.argv[1:]:
            req = Requirement(line)
            try:
                found = version(req.name)
            except Exception:
                bad.append(line)
                continue
            if not req.specifier.contains(found, prereleases=True):
                bad.append(f"{line} ({found})")
        print("\\n".join(bad))
        """
    )
    unmet = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script, *requires],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unmet.returncode == 0, unmet.stderr
    assert unmet.stdout.strip() == ""
