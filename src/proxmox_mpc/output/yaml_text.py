"""YAML text out: LibYAML's emitter when PyYAML was built with it, the pure-Python one otherwise.

Both write the same bytes for what pmpc dumps (a property test compares them); LibYAML is several
times faster, which matters when `sync --import` writes thousands of manifests. The few shapes where
the two emitters differ (a bare scalar as the whole document; an empty, multi-line or non-string key;
text with escaped or astral characters or several trailing line breaks) go through the pure-Python
emitter, so the output never depends on how PyYAML was built.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# PyYAML's C-accelerated safe dumper, when its LibYAML extension is installed.
SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def safe_dump(data: Any, *, dumper: type[yaml.SafeDumper] | None = None, **options: Any) -> str:
    """Return `data` as YAML text, as yaml.safe_dump would, through the fastest safe dumper.

    `dumper` is a dumper class built on SafeDumper (this module's); its pure-Python twin is `pure`.
    """
    chosen = dumper or SafeDumper
    if chosen is not yaml.SafeDumper and not emits_alike(data):
        chosen = pure_twin(chosen)
    return str(yaml.dump(data, Dumper=chosen, **options))


def emits_alike(data: Any) -> bool:
    """Return True when LibYAML and the pure-Python emitter write `data` the same way."""
    if not isinstance(data, dict | list):
        return False
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not _plain_text(item):
                return False
        elif isinstance(item, dict):
            if any(not isinstance(key, str) or not key or "\n" in key for key in item):
                return False
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _plain_text(text: str) -> bool:
    # Escaped characters (controls, tabs, unusual spaces and breaks) and characters beyond the BMP are
    # quoted and folded differently by the two emitters; so is text ending in more than one line break
    # or of nothing but one (a "keep" block scalar, after which only the pure emitter leaves the
    # document open when more follows, and LibYAML closes it with `...`).
    if not text:
        return True
    if "\n" in text:
        if text == "\n" or text.endswith("\n\n") or not text.replace("\n", "").isprintable():
            return False
    elif not text.isprintable():
        return False
    return max(text) <= "\uffff"


def pure_twin(dumper: type[yaml.SafeDumper]) -> type[yaml.SafeDumper]:
    """Return the pure-Python dumper with the same representers as `dumper` (itself when it is pure)."""
    if not issubclass(dumper, getattr(yaml, "CSafeDumper", ())):
        return dumper
    twin = _TWINS.get(dumper)
    if twin is None:
        twin = type(f"Pure{dumper.__name__}", (yaml.SafeDumper,), {})
        twin.yaml_representers = dict(dumper.yaml_representers)
        twin.yaml_multi_representers = dict(dumper.yaml_multi_representers)
        _TWINS[dumper] = twin
    return twin


_TWINS: dict[type[yaml.SafeDumper], type[yaml.SafeDumper]] = {}


def block_dump(data: dict[str, Any]) -> str | None:
    """Return `data` as `safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)` writes it,
    or None when its shape is not one of the simple ones this writer knows (then dump it through PyYAML).

    The simple shapes are what a manifest mostly is: mappings of short keys, lists, integers, booleans and
    one-line ASCII text that fits the line. For those, this writes the same bytes as both emitters (a
    property test compares them) several times faster than PyYAML's representer, which `sync --import`
    of thousands of guests feels. Anything else (floats, nulls, several lines, long or non-ASCII text, a
    list in a list) is left to PyYAML.
    """
    if not data:
        return None
    out: list[str] = []
    try:
        _block_mapping(data, "", "", out)
    except _NotSimple:
        return None
    return "".join(out)


class _NotSimple(Exception):
    """The document holds a shape block_dump leaves to PyYAML."""


# The widest line the emitters write before they fold text at a space (PyYAML's and LibYAML's best_width).
_WIDTH = 80
# First characters that make text an indicator (or start it with a space): such text is left to PyYAML.
_NOT_FIRST = frozenset("-?:,[]{}#&*!|>'\"%@` ")
_ASCII_TEXT = re.compile(r"[ -~]*\Z")
_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
# Text already classified: its YAML spelling, or "" when it is not simple (names and values repeat a lot).
_SPELLED: dict[str, str] = {}
# Simple keys already seen, spelled with their colon.
_KEYS: dict[str, str] = {}


def _spelled(text: str) -> str:
    """Return one-line ASCII text as the emitters write it (plain, or single-quoted), "" when not simple."""
    known = _SPELLED.get(text)
    if known is not None:
        return known
    if len(_SPELLED) > 65536:
        _SPELLED.clear()
    spelled = ""
    if _ASCII_TEXT.match(text):
        if not text:
            spelled = "''"
        elif text[0] in _NOT_FIRST or text[-1] in ": " or ": " in text or " #" in text or text.startswith("..."):
            spelled = ""  # an indicator, or a space at either end: the emitters' own choice of quotes
        elif any(regexp.match(text) for _, regexp in _RESOLVERS.get(text[0], ())):
            spelled = "'" + text + "'"  # it would read back as a number, boolean or null: quoted
        else:
            spelled = text
    _SPELLED[text] = spelled
    return spelled


def _block_scalar(value: Any, lead: int) -> str:
    """Return a scalar as the emitters write it after `lead` columns on its line."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is str:
        spelled = _spelled(value)
        # Text with a space may be folded once the line is full: only text that fits is simple.
        if spelled and (" " not in spelled or lead + len(spelled) <= _WIDTH):
            return spelled
    raise _NotSimple


def _block_key(key: Any) -> str:
    """Return a mapping key and its colon as the emitters write them."""
    if type(key) is not str or not key or len(key) > 100 or " " in key:
        raise _NotSimple
    spelled = _spelled(key)
    if not spelled:
        raise _NotSimple
    if len(_KEYS) > 4096:
        _KEYS.clear()
    _KEYS[key] = head = spelled + ":"
    return head


def _block_mapping(mapping: dict[str, Any], indent: str, lead: str, out: list[str]) -> None:
    """Write a non-empty mapping: its first key after `lead` (`indent`, or a list item's `- `), the rest at `indent`."""
    for key, value in mapping.items():
        head = lead + (_KEYS.get(key) or _block_key(key))
        lead = indent
        if type(value) is str and " " not in value:
            spelled = _SPELLED.get(value) or _spelled(value)
            if not spelled:
                raise _NotSimple
            out.append(head + " " + spelled + "\n")
        elif type(value) is dict:
            if value:
                out.append(head + "\n")
                _block_mapping(value, indent + "  ", indent + "  ", out)
            else:
                out.append(head + " {}\n")
        elif type(value) is list:
            if value:
                out.append(head + "\n")
                _block_sequence(value, indent, out)
            else:
                out.append(head + " []\n")
        else:
            out.append(head + " " + _block_scalar(value, len(head) + 1) + "\n")


def _block_sequence(items: list[Any], indent: str, out: list[str]) -> None:
    """Write a non-empty list at `indent` (a mapping's list is not indented further)."""
    for item in items:
        if type(item) is dict:
            if item:
                _block_mapping(item, indent + "  ", indent + "- ", out)
            else:
                out.append(indent + "- {}\n")
        elif type(item) is list:
            raise _NotSimple
        else:
            out.append(indent + "- " + _block_scalar(item, len(indent) + 2) + "\n")
