"""Parse untrusted YAML and JSON: no aliases, at most 64 levels deep, no NUL byte, LibYAML when present.

Manifests, pmpc.yaml, the contexts file and plan files come from repositories and other people.
An alias bomb (a kilobyte that expands to gigabytes), a document thousands of levels deep (which
ends the recursive parsers in RecursionError or worse) and a binary file are refused with one
`InputLimitError` (message, line, column) before anything is built.

Speed matters (a workspace may hold 10,000 manifests): the C parser (LibYAML) composes, and the
event scan that looks for aliases and depth runs only when the cheap checks cannot rule them
out: a text holding `*` (an alias needs one) or longer than `QUICK_LIMIT` characters. A shorter
text cannot nest deeper than its length, and LibYAML stops at 1,000 levels itself, so composing
it is safe; the caller then bounds the depth of the nodes it walks (see `MAX_DEPTH`). Without
LibYAML every text is scanned first: the pure-Python parser is iterative, its composer is not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

MAX_DEPTH = 64
QUICK_LIMIT = 8192

_RESOLVED_LIMIT = 65536

try:
    from yaml import CSafeLoader as _BaseLoader

    LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without LibYAML
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

    LIBYAML = False


class SafeLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, remembering the tag of each plain scalar (manifests repeat most of theirs)."""

    _resolved: dict[tuple[str, Any], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._resolved) >= _RESOLVED_LIMIT:
                self._resolved.clear()
            self._resolved[key] = tag
        return tag


class InputLimitError(ValueError):
    """An untrusted text breaks a limit; `line` and `column` are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


def too_deep(line: int = 1, column: int = 1) -> InputLimitError:
    """Return the error for a value nested deeper than MAX_DEPTH levels."""
    return InputLimitError(f"nesting deeper than {MAX_DEPTH} levels is not allowed", line, column)


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def check_nul(text: str) -> None:
    """Refuse a text holding a NUL byte (a binary file, not YAML or JSON).

    Raises:
        InputLimitError: there is a NUL byte.
    """
    index = text.find("\x00")
    if index >= 0:
        raise InputLimitError("a NUL byte: this is not a text file", *_position(text, index))


def _event_at(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


@contextmanager
def _libyaml_depth_as_limit() -> Iterator[None]:
    """LibYAML's scanner reads ahead and stops at 1,000 levels itself: report that as our limit."""
    try:
        yield
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" not in str(exc.problem):
            raise
        mark = exc.problem_mark
        raise too_deep(*((mark.line + 1, mark.column + 1) if mark else (1, 1))) from None


def scan_events(text: str) -> None:
    """Walk the parser's events (nothing is built) and refuse aliases and deep nesting.

    Raises:
        InputLimitError: an alias, or more than MAX_DEPTH nested collections.
        yaml.YAMLError: the text is not YAML.
    """
    loader = SafeLoader(text)
    try:
        with _libyaml_depth_as_limit():
            _walk_events(loader)
    finally:
        loader.dispose()


def _walk_events(loader: Any) -> None:
    depth = 0
    while loader.check_event():
        event = loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            raise InputLimitError(f"YAML aliases are not allowed (*{event.anchor})", *_event_at(event))
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise too_deep(*_event_at(event))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def needs_scan(text: str) -> bool:
    """Return True unless composing `text` directly is known to be safe (see the module docstring)."""
    return not LIBYAML or "*" in text or len(text) > QUICK_LIMIT


def compose_documents(text: str) -> Iterator[tuple[yaml.Node, Any]]:
    """Yield (node, loader) per document; `loader.construct_document(node)` builds its value.

    The nodes carry their marks. No alias reaches the caller; nesting is at most MAX_DEPTH when
    the text was scanned, else the caller must refuse nodes deeper than MAX_DEPTH as it walks them.

    Raises:
        InputLimitError: a NUL byte, an alias, or too deep.
        yaml.YAMLError: the text is not YAML.
    """
    check_nul(text)
    if needs_scan(text):
        scan_events(text)
    loader = SafeLoader(text)
    try:
        while True:
            with _libyaml_depth_as_limit():
                node = loader.get_node() if loader.check_node() else None
            if node is None:
                break
            yield node, loader
    finally:
        loader.dispose()


def load_yaml(text: str) -> Any:
    """Return the one document of a small untrusted YAML text (settings, contexts), checked first.

    Raises:
        InputLimitError: a NUL byte, an alias, or too deep.
        yaml.YAMLError: the text is not YAML (or holds several documents).
    """
    check_nul(text)
    scan_events(text)
    with _libyaml_depth_as_limit():
        return yaml.load(text, Loader=SafeLoader)  # a safe loader: LibYAML or pure Python, chosen above


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(text: str) -> Any:
    """Return an untrusted JSON text's value, refusing NUL bytes and nesting deeper than MAX_DEPTH.

    Raises:
        InputLimitError: a NUL byte, or too deep.
        ValueError: not JSON.
    """
    check_nul(text)
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep() from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise too_deep()
    return value
