"""Errors take their context in the constructor: nothing in pmpc sets it on an error afterwards or probes for it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import proxmox_mpc
from proxmox_mpc import errors
from proxmox_mpc.errors import ApiError, ExitCode, LockedError, PmpcError, TargetsFailed

SRC = Path(proxmox_mpc.__file__).parent
ERROR_CLASSES = {n for n, value in vars(errors).items() if isinstance(value, type) and issubclass(value, Exception)}
CONTEXT = {"kind", "exit_code", "pve_message", "lock", "upid", "exitstatus", "log_tail", "status", "details", "message"}


def _names_pmpc_error(node: ast.AST | None) -> bool:
    """Tell whether an expression (a class, a tuple of classes, a call) names one of pmpc's errors."""
    return any(
        (isinstance(n, ast.Name) and n.id in ERROR_CLASSES)
        or (isinstance(n, ast.Attribute) and n.attr in ERROR_CLASSES)
        for n in ast.walk(node or ast.Constant(None))
    )


def _scopes(tree: ast.AST) -> list[tuple[str, list[ast.AST]]]:
    """Return (name, statements) where the name holds one of pmpc's errors.

    `except PmpcError as exc:` binds it within its handler; `error = Conflict(...)` within the function.
    """
    scopes: list[tuple[str, list[ast.AST]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.name and _names_pmpc_error(node.type):
            scopes.append((node.name, list(node.body)))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            made = [
                a for a in ast.walk(node) if isinstance(a, ast.Assign) and isinstance(a.value, ast.Call)
            ]
            for assign in made:
                if _names_pmpc_error(assign.value.func):  # type: ignore[attr-defined]
                    scopes += [(t.id, list(node.body)) for t in assign.targets if isinstance(t, ast.Name)]
    return scopes


def _misuse(node: ast.AST, name: str) -> str | None:
    """Return what a statement does to the error's context after construction, or None."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign) else []
    for target in targets:
        named = isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == name
        if named and target.attr in CONTEXT:  # type: ignore[attr-defined]
            return f"sets {name}.{target.attr}"  # type: ignore[attr-defined]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
        args = node.args
        named = len(args) > 1 and isinstance(args[0], ast.Name) and args[0].id == name
        if named and isinstance(args[1], ast.Constant) and args[1].value in CONTEXT:
            return f"probes {name}.{args[1].value}"
    return None


def _patches(path: Path, root: Path = SRC) -> list[str]:
    problems = []
    for name, body in _scopes(ast.parse(path.read_text(encoding="utf-8"))):
        for statement in body:
            for node in ast.walk(statement):
                found = _misuse(node, name)
                if found:
                    problems.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)} {found}")
    return sorted(set(problems), key=lambda p: int(p.split(":")[1].split(" ")[0]))


def test_no_error_gets_its_context_after_construction():
    problems = [p for path in sorted(SRC.rglob("*.py")) for p in _patches(path)]
    assert problems == []


def test_the_probe_notices_a_patched_error(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n"
        "    try:\n        g()\n    except (ApiError, OSError) as exc:\n        return getattr(exc, 'upid', None)\n"
        "    except ValueError as other:\n        return getattr(other, 'upid', None)\n"
        "def h():\n    error = errors.PmpcError('x')\n    error.exit_code = 3\n    raise error\n"
    )
    assert [p.split(" ", 1)[1] for p in _patches(sample, tmp_path)] == ["probes exc.upid", "sets error.exit_code"]


@pytest.mark.parametrize(
    ("error", "code", "kind"),
    [
        (ApiError("no", status=500, pve_message="boom"), ExitCode.ERROR, "api"),
        (LockedError("locked", lock="backup", pve_message="VM is locked (backup)"), ExitCode.CONFLICT, "conflict"),
        (TargetsFailed("all failed", exit_code=7, kind="conflict"), ExitCode.CONFLICT, "conflict"),
        (PmpcError("plain"), ExitCode.ERROR, "error"),
    ],
    ids=["api", "locked", "targets", "plain"],
)
def test_context_comes_with_the_constructor(error, code, kind):
    assert error.exit_code == code
    assert error.to_dict()["error"]["kind"] == kind
    if isinstance(error, ApiError):
        assert error.pve_message
    if isinstance(error, LockedError):
        assert error.lock == "backup"
