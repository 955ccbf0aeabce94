"""The console loop: read a line, run it as a console command or a pmpc command line, and go on."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxmox_mpc.console import slash
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import PmpcError

if TYPE_CHECKING:
    import typer
    from prompt_toolkit import PromptSession

# Runs one command line (argv without `pmpc`) with the console's AppContext; returns its exit code.
Runner = Callable[[list[str], AppContext], int]
HISTORY_FILE = "history"
EXIT_LINES = frozenset({"/exit", "/quit", "/q", "exit", "quit"})


def history_path(app_ctx: AppContext) -> Path:
    """Return the history file: the workspace's .pmpc/history, else one per user."""
    from proxmox_mpc.config import user_state_dir

    if app_ctx.workspace is not None:
        return app_ctx.workspace / ".pmpc" / HISTORY_FILE
    return user_state_dir() / HISTORY_FILE


def workspace_name(workspace: Path | None) -> str | None:
    """Return the workspace's name from pmpc.yaml, else its directory name."""
    if workspace is None:
        return None
    from proxmox_mpc.config import read_workspace_file

    try:
        name = read_workspace_file(workspace).get("name")
    except PmpcError:
        name = None
    return str(name) if name else workspace.name


def prompt_text(app_ctx: AppContext, ws_name: str | None) -> str:
    """Return `pmpc:WORKSPACE [CONTEXT]> ` (the host when no named context is in use)."""
    try:
        settings = app_ctx.settings
        context = settings.context or settings.host or "no context"
    except PmpcError:
        context = "config error"
    where = f":{ws_name}" if ws_name else ""
    return f"pmpc{where} [{context}]> "


def adopt_new_workspace(app_ctx: AppContext) -> bool:
    """After `/init` in a console started outside a workspace, use the workspace it made (if any)."""
    if app_ctx.workspace is not None:
        return False
    from proxmox_mpc.config import find_workspace, load_settings

    try:
        found = find_workspace()
    except PmpcError:
        return False
    if found is None:
        return False
    flags = app_ctx.flags
    app_ctx.workspace = found
    app_ctx.loader = lambda: load_settings(flags, found)
    app_ctx.reload()
    return True


def _has_secret(line: str) -> bool:
    from proxmox_mpc.services.report import redact_argv

    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    return redact_argv(words) != words


def make_history(path: Path) -> Any:
    """Return a prompt_toolkit file history (mode 0600) that never stores a line carrying a secret."""
    import os

    from prompt_toolkit.history import FileHistory

    class PrivateHistory(FileHistory):
        def store_string(self, string: str) -> None:
            # Leaving is not worth recalling; a line with a secret must never reach the file.
            if string.strip() not in EXIT_LINES and not _has_secret(string):
                super().store_string(string)

    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
    return PrivateHistory(str(path))


def open_history(app_ctx: AppContext) -> Any:
    """Return the persistent history, or one in memory (with a warning) when its file cannot be written."""
    path = history_path(app_ctx)
    try:
        return make_history(path)
    except OSError as exc:
        from prompt_toolkit.history import InMemoryHistory

        app_ctx.warn(f"history is not saved: cannot write {path} ({exc.strerror or exc}).")
        return InMemoryHistory()


def confirm(question: str) -> bool:
    """Ask a yes/no question inside the console (also from within a running command's event loop)."""
    from prompt_toolkit import PromptSession

    try:
        answer: str = PromptSession[str]().prompt(f"{question} [y/N]: ", in_thread=True)
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def execute(line: str, session: slash.Session) -> None:
    """Run one console line; raises slash.ExitConsole for /exit."""
    line = line.strip()
    if not line or line.startswith("#"):
        return
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        session.err.write(f"pmpc: error: cannot read that line: {exc}.\n")
        session.last_exit = 64
        return
    name = argv[0][1:] if argv[0].startswith("/") else argv[0]
    command = slash.find(name)
    if command is not None and (argv[0].startswith("/") or name in ("exit", "quit", "help")):
        command.handler(session, argv[1:])
        return
    if name == "console":
        session.err.write("pmpc: error: you are already in the console.\n")
        return
    session.last_exit = session.run_line([name, *argv[1:]])


def run(app_ctx: AppContext, app: typer.Typer, *, runner: Runner) -> None:
    """Run the console until /exit or Ctrl-D; errors and Ctrl-C end a command, never the console."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory

    from proxmox_mpc.console.completer import NameCache, PmpcCompleter

    root_cache: list[Any] = []

    def root() -> Any:
        if not root_cache:
            import typer

            root_cache.append(typer.main.get_command(app))  # type: ignore[arg-type]
        return root_cache[0]

    def load_names() -> dict[str, list[str]]:
        from proxmox_mpc.services.diagnostics import known_names

        return known_names(app_ctx)

    names = NameCache(load_names)
    debug, insecure = app_ctx.debug, app_ctx.insecure
    app_ctx.in_console = True
    app_ctx.prompt = confirm

    def run_line(argv: list[str]) -> int:
        try:
            return runner(argv, app_ctx)
        except KeyboardInterrupt:
            app_ctx.err.write("\npmpc: interrupted.\n")
            return 4
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        finally:
            # Flags given on one line (--debug, --insecure) last for that line only.
            app_ctx.debug, app_ctx.insecure = debug, insecure
            app_ctx.reload()
            adopt_new_workspace(app_ctx)
            names.invalidate()
            app_ctx.out.flush()

    session = slash.Session(out=app_ctx.out, err=app_ctx.err, run_line=run_line, root=root)
    prompt: PromptSession[str] = PromptSession(
        history=open_history(app_ctx),
        completer=PmpcCompleter(root, names),
        auto_suggest=AutoSuggestFromHistory(),
        complete_while_typing=False,
    )
    from proxmox_mpc.version import describe_version

    app_ctx.err.write(f"pmpc {describe_version()} console. /help lists commands; Ctrl-D or /exit leaves.\n")
    while True:
        try:
            line = prompt.prompt(prompt_text(app_ctx, workspace_name(app_ctx.workspace)))
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            execute(line, session)
        except slash.ExitConsole:
            break
        except KeyboardInterrupt:
            app_ctx.err.write("\npmpc: interrupted.\n")
