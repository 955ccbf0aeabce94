"""Task progress on stderr: a rich live display on a colour terminal, sparse plain lines otherwise."""

from __future__ import annotations

from typing import Any, TextIO

# Plain mode stays quiet for quick tasks and then reports at this pace (seconds).
PLAIN_FIRST_NOTICE = 2.0
PLAIN_INTERVAL = 30.0


class Progress:
    """The interface services call while they wait for tasks; this base shows nothing."""

    def begin(self, target: str, what: str) -> None:
        """A target started waiting for a task (`what`: e.g. `qmstart`)."""

    def update(self, target: str, waited: float) -> None:
        """The target has waited `waited` seconds so far."""

    def end(self, target: str) -> None:
        """The target's task is over (whatever its outcome)."""

    def close(self) -> None:
        """Remove any live display."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PlainProgress(Progress):
    """No animation: one line when a task takes a while, then one every PLAIN_INTERVAL seconds."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self._tasks: dict[str, tuple[str, float]] = {}

    def begin(self, target: str, what: str) -> None:
        self._tasks[target] = (what, PLAIN_FIRST_NOTICE)

    def update(self, target: str, waited: float) -> None:
        what, next_notice = self._tasks.get(target, ("task", PLAIN_FIRST_NOTICE))
        if waited >= next_notice:
            self.err.write(f"{target}: waiting for {what} ({waited:.0f}s)\n")
            self.err.flush()
            self._tasks[target] = (what, waited + PLAIN_INTERVAL)

    def end(self, target: str) -> None:
        self._tasks.pop(target, None)


class RichProgress(Progress):
    """A spinner per waiting target on a terminal, removed when the batch is done."""

    def __init__(self, err: TextIO) -> None:
        from rich.console import Console
        from rich.progress import Progress as RichBar
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(file=err, stderr=True),
            transient=True,
        )
        self._ids: dict[str, Any] = {}
        self._started = False

    def begin(self, target: str, what: str) -> None:
        if not self._started:
            self._bar.start()
            self._started = True
        self._ids[target] = self._bar.add_task(f"{target}: {what}", total=None)

    def update(self, target: str, waited: float) -> None:
        if target in self._ids:
            self._bar.update(self._ids[target], advance=0)

    def end(self, target: str) -> None:
        task_id = self._ids.pop(target, None)
        if task_id is not None:
            self._bar.remove_task(task_id)

    def close(self) -> None:
        if self._started:
            self._bar.stop()
            self._started = False


def make_progress(err: TextIO, *, color: bool) -> Progress:
    """Return rich progress on a colour terminal (stderr a TTY, colour allowed), plain lines otherwise."""
    if color:
        return RichProgress(err)
    return PlainProgress(err)
