"""YAML text out: LibYAML's emitter when PyYAML was built with it, the pure-Python one otherwise.

Both write the same bytes for what pmpc dumps (a property test compares them); LibYAML is several
times faster, which matters when `sync --import` writes thousands of manifests. The few shapes where
the two emitters differ (a bare scalar as the whole document; an empty, multi-line or non-string key;
text with escaped or astral characters or several trailing line breaks) go through the pure-Python
emitter, so the output never depends on how PyYAML was built.
"""

from __future__ import annotations

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
