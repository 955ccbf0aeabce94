"""kubectl-style JSONPath templates (`{.items[*].name}`, `{range .items[*]}{.vmid}{"\\n"}{end}`) and paths.

A template is literal text and `{...}` blocks; a block is a path, a quoted string, `range PATH` or
`end`. Paths: `$` (root), `@` (current), `.key`, `..key` (recursive), `*`, `[N]`, `[-1]`, `[a:b]`,
`[*]`, `['key']`, `[?(@.key OP value)]` (`==`, `!=`, `<`, `<=`, `>`, `>=`, or `[?(@.key)]`).
Inside a range, a path without `$` starts from the current item. Missing keys print nothing, as
kubectl does by default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from proxmox_mpc.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9_\-]+")
_FILTER = re.compile(r"^\s*(@[^=!<>]*?)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


class JsonPathError(UsageError):
    """A template or path that cannot be parsed (a usage error: exit 64)."""


@dataclass(frozen=True)
class Step:
    """One step of a path: `key`, `recurse`, `wildcard`, `index`, `slice`, `keys` or `filter`."""

    op: str
    arg: Any = None


@dataclass(frozen=True)
class Path:
    """A parsed path: where it starts (`$` root or `@` current) and its steps."""

    start: str
    steps: tuple[Step, ...]
    text: str

    @property
    def single(self) -> bool:
        """Return True when the path names at most one value (no wildcard, slice, filter or recursion)."""
        return all(s.op == "key" or (s.op in ("index", "keys") and len(s.arg) == 1) for s in self.steps)

    def get(self, node: Any) -> Any:
        """Return the one value a `single` path names, or None (the fast path of table cells)."""
        for step in self.steps:
            if step.op == "key":
                node = node.get(step.arg) if isinstance(node, dict) else None
            elif step.op == "keys":
                node = node.get(step.arg[0]) if isinstance(node, dict) else None
            else:
                index = step.arg[0]
                node = node[index] if isinstance(node, list) and -len(node) <= index < len(node) else None
            if node is None:
                return None
        return node

    def find(self, root: Any, current: Any | None = None) -> list[Any]:
        """Return every value the path selects, in document order (empty when nothing matches)."""
        nodes = [root if self.start == "$" or current is None else current]
        for step in self.steps:
            nodes = [found for node in nodes for found in _apply(step, node, root)]
        return nodes


@dataclass
class _Block:
    kind: str  # "text", "path", "range"
    text: str = ""
    path: Path | None = None
    body: list[_Block] = field(default_factory=list)


def _descendants(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _descendants(child)


def _apply(step: Step, node: Any, root: Any) -> list[Any]:
    if step.op == "key":
        return [node[step.arg]] if isinstance(node, dict) and step.arg in node else []
    if step.op == "keys":
        return [node[k] for k in step.arg if isinstance(node, dict) and k in node]
    if step.op == "recurse":
        return [d[step.arg] for d in _descendants(node) if isinstance(d, dict) and step.arg in d]
    if step.op == "wildcard":
        return list(node.values()) if isinstance(node, dict) else list(node) if isinstance(node, list) else []
    if not isinstance(node, list):
        return []
    if step.op == "index":
        return [node[i] for i in step.arg if -len(node) <= i < len(node)]
    if step.op == "slice":
        return node[slice(*step.arg)]
    return [item for item in node if _test(step.arg, item, root)]  # filter


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError:
        return False


def _test(condition: tuple[Path, str | None, Any], item: Any, root: Any) -> bool:
    path, op, value = condition
    found = path.find(root, item)
    if op is None:
        return any(v not in (None, False, "", [], {}) for v in found)
    return any(_compare(v, op, value) for v in found)


def _literal(text: str, where: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise JsonPathError(f"Bad value {text!r} in the filter {where!r}: quote strings, e.g. 'running'.") from None


def _bracket(body: str, text: str) -> Step:
    body = body.strip()
    if body == "*":
        return Step("wildcard")
    if body.startswith("?"):
        inner = body[1:].strip()
        if not (inner.startswith("(") and inner.endswith(")")):
            raise JsonPathError(f"Bad filter [{body}] in {text!r}: write [?(@.status=='running')].")
        match = _FILTER.match(inner[1:-1])
        if not match:
            raise JsonPathError(f"Bad filter [{body}] in {text!r}: write [?(@.key OP value)].")
        left, op, value = match.groups()
        return Step("filter", (parse_path(left), op, None if op is None else _literal(value, body)))
    if body[:1] in "'\"":
        keys = [k.strip() for k in body.split(",")]
        if not all(len(k) >= 2 and k[0] == k[-1] and k[0] in "'\"" for k in keys):
            raise JsonPathError(f"Bad key list [{body}] in {text!r}: write ['key'] or ['a','b'].")
        return Step("keys", tuple(k[1:-1] for k in keys))
    try:
        if ":" in body:
            parts = [int(p) if p.strip() else None for p in body.split(":")]
            if len(parts) > 3 or (parts[-1] == 0 and len(parts) == 3):
                raise ValueError
            return Step("slice", tuple(parts))
        return Step("index", tuple(int(p) for p in body.split(",")))
    except ValueError:
        raise JsonPathError(f"Bad index [{body}] in {text!r}: write [0], [-1], [1:3], [*] or ['key'].") from None


def _close_bracket(text: str, start: int) -> int:
    """Return the index of the `]` closing the `[` at start, skipping quoted text and nested brackets."""
    depth, quote = 0, ""
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i
    raise JsonPathError(f"Bad path {text!r}: a '[' without its ']'.")


@lru_cache(maxsize=256)
def parse_path(text: str) -> Path:
    """Parse a path: `.items[*].name`, `$.a.b`, `@.tags[0]`, `name` (a bare key, as custom-columns allow).

    Raises:
        JsonPathError: the path is malformed.
    """
    source = text.strip()
    if not source:
        raise JsonPathError("Empty path: write e.g. .name or .tags[0].")
    start, i = "@", 0
    if source[0] in "$@":
        start, i = source[0], 1
    elif source[0] not in ".[":
        source = "." + source  # relaxed form: `name` means `.name`
    steps: list[Step] = []
    while i < len(source):
        if source.startswith("..", i):
            match = _NAME.match(source, i + 2)
            if source.startswith("*", i + 2):
                steps.append(Step("wildcard"))
                i += 3
                continue
            if not match:
                raise JsonPathError(f"Bad path {text!r}: '..' needs a key after it.")
            steps.append(Step("recurse", match.group()))
            i = match.end()
        elif source[i] == ".":
            if source.startswith("*", i + 1):
                steps.append(Step("wildcard"))
                i += 2
                continue
            match = _NAME.match(source, i + 1)
            if not match:
                if i + 1 == len(source) and not steps:
                    i += 1  # `.` or `@.` alone: the current node
                    continue
                raise JsonPathError(f"Bad path {text!r}: expected a key after '.' at position {i + 1}.")
            steps.append(Step("key", match.group()))
            i = match.end()
        elif source[i] == "[":
            end = _close_bracket(source, i)
            steps.append(_bracket(source[i + 1 : end], text))
            i = end + 1
        else:
            raise JsonPathError(f"Bad path {text!r}: unexpected {source[i]!r} at position {i + 1}.")
    return Path(start=start, steps=tuple(steps), text=text)


def _unquote(body: str) -> str:
    out, i = [], 1
    while i < len(body) - 1:
        char = body[i]
        if char == "\\" and i + 1 < len(body) - 1:
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _split_blocks(template: str) -> Iterator[tuple[bool, str]]:
    """Yield (is_block, text) pieces: literal text, and the insides of `{...}` (quotes may hold braces)."""
    i, text = 0, []
    while i < len(template):
        char = template[i]
        if char != "{":
            if char == "}":
                raise JsonPathError(f"Bad template {template!r}: a '}}' without its '{{'.")
            text.append(char)
            i += 1
            continue
        if text:
            yield False, "".join(text)
            text = []
        quote, j = "", i + 1
        while j < len(template):
            c = template[j]
            if quote:
                if c == "\\":
                    j += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c == "}":
                break
            j += 1
        else:
            raise JsonPathError(f"Bad template {template!r}: a '{{' without its '}}'.")
        yield True, template[i + 1 : j].strip()
        i = j + 1
    if text:
        yield False, "".join(text)


@dataclass(frozen=True)
class Template:
    """A parsed template; render(data) fills it."""

    blocks: tuple[_Block, ...]

    def render(self, data: Any) -> str:
        """Return the template filled from data (kubectl prints no newline the template does not have)."""
        out: list[str] = []
        _render(list(self.blocks), data, data, out)
        return "".join(out)


def parse_template(template: str) -> Template:
    """Parse a kubectl JSONPath template; a bare path (`.items[*].name`) is taken as `{.items[*].name}`.

    Raises:
        JsonPathError: the template is malformed (the sentence says where).
    """
    if "{" not in template and template.strip()[:1] in (".", "$", "["):
        template = "{" + template.strip() + "}"
    if not template.strip():
        raise JsonPathError("Empty template: write e.g. jsonpath='{.items[*].name}'.")
    stack: list[list[_Block]] = [[]]
    for is_block, piece in _split_blocks(template):
        if not is_block:
            stack[-1].append(_Block("text", text=piece))
        elif piece == "end":
            if len(stack) == 1:
                raise JsonPathError(f"Bad template {template!r}: {{end}} without {{range}}.")
            stack.pop()
        elif piece.startswith("range ") or piece == "range":
            block = _Block("range", path=parse_path(piece[5:].strip() or "@"))
            stack[-1].append(block)
            stack.append(block.body)
        elif len(piece) >= 2 and piece[0] == piece[-1] and piece[0] in "'\"":
            stack[-1].append(_Block("text", text=_unquote(piece)))
        elif not piece:
            raise JsonPathError(f"Bad template {template!r}: an empty {{}}.")
        else:
            stack[-1].append(_Block("path", path=parse_path(piece)))
    if len(stack) > 1:
        raise JsonPathError(f"Bad template {template!r}: {{range}} without {{end}}.")
    return Template(tuple(stack[0]))


def format_value(value: Any) -> str:
    """Return a value as kubectl prints it: text bare, numbers and booleans as JSON, objects as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _render(blocks: list[_Block], root: Any, current: Any, out: list[str]) -> None:
    for block in blocks:
        if block.kind == "text":
            out.append(block.text)
        elif block.kind == "path":
            assert block.path is not None
            out.append(" ".join(format_value(v) for v in block.path.find(root, current)))
        else:
            assert block.path is not None
            for item in block.path.find(root, current):
                _render(block.body, root, item, out)
