"""One printer per output format behind get_printer(fmt); stdout carries data only."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol, TextIO

from proxmox_mpc.core.models import rfc3339
from proxmox_mpc.errors import UsageError

CUSTOM_PREFIX = "custom-columns="
JSONPATH_PREFIX = "jsonpath="
# Which -o values a command takes: lists and gets all of them, verbs and reports no columns.
LIST_FORMATS = ("table", "wide", "json", "yaml", "name", "jsonpath", "custom-columns")
RESULT_FORMATS = ("table", "json", "yaml", "name", "jsonpath")
DOCUMENT_FORMATS = ("table", "json", "yaml", "jsonpath")
FORMATS = LIST_FORMATS
_SPELLED = {"jsonpath": "jsonpath=TEMPLATE", "custom-columns": "custom-columns=HEADER:PATH,HEADER:PATH"}


@dataclass(frozen=True)
class Column:
    """A table column: header, the field (a path: `name`, `.tags[0]`) it shows, and whether only -o wide does."""

    header: str
    field: str
    wide: bool = False
    format: Callable[[Any], str] | None = None


def describe_formats(formats: Sequence[str]) -> str:
    """Return `table, json, yaml or jsonpath=TEMPLATE` for help texts and errors."""
    spelled = [_SPELLED.get(f, f) for f in formats]
    return ", ".join(spelled[:-1]) + " or " + spelled[-1] if len(spelled) > 1 else spelled[0]


@lru_cache(maxsize=256)
def getter(path: str) -> Callable[[Any], Any]:
    """Return a function giving a record's value at a path (`name`, `.tags[0]`, `.tags[*]`): None when absent,
    several values as a list. Compiled once per path: a table asks it for every cell.

    Raises:
        UsageError: the path is malformed.
    """
    from proxmox_mpc.output.jsonpath import parse_path

    parsed = parse_path(path)
    if len(parsed.steps) == 1 and parsed.steps[0].op == "key":
        key = parsed.steps[0].arg
        return lambda record: record.get(key) if isinstance(record, dict) else None
    if parsed.single:
        return parsed.get
    return lambda record: parsed.find(record) or None


def lookup(record: Any, path: str) -> Any:
    """Return the value at a path (`a.b`, `.tags[0]`, `.tags[*]`), None when absent; several values as a list."""
    return getter(path)(record)


def cell(value: Any) -> str:
    """Render one value for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    return str(value)


def to_data(item: Any) -> Any:
    """Dump a pydantic model (or a list of them) to JSON-ready data."""
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json")
    if isinstance(item, list | tuple):
        return [to_data(i) for i in item]
    if isinstance(item, dict):
        return {k: to_data(v) for k, v in item.items()}
    if isinstance(item, datetime):
        return rfc3339(item)
    return item


def parse_custom_columns(spec: str) -> list[Column]:
    """Parse `custom-columns=NAME:.field,FIRST-TAG:.tags[0]` into columns (each field a checked path)."""
    from proxmox_mpc.output.jsonpath import parse_path

    body = spec[len(CUSTOM_PREFIX) :]
    columns = []
    for part in _split_outside_brackets(body):
        header, sep, field = part.partition(":")
        if not sep or not header or not field:
            raise UsageError(f"-o/--output: bad custom column {part!r}: write HEADER:.field, e.g. NAME:.name.")
        parse_path(field)
        columns.append(Column(header=header, field=field))
    if not columns:
        raise UsageError("-o/--output: custom-columns= needs at least one HEADER:.field.")
    return columns


def _split_outside_brackets(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p]


def field_names(records: Sequence[dict[str, Any]]) -> list[str]:
    """Return the dotted names of every field in the records (`name`, `guests.vms`), in first-seen order."""
    names: dict[str, None] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict) and value and prefix.count(".") < 3:
            for key, inner in value.items():
                walk(inner, f"{prefix}.{key}" if prefix else str(key))
        elif prefix:
            names[prefix] = None

    for record in records:
        walk(record, "")
    return list(names)


def check_sort_field(field: str, known: Sequence[str]) -> None:
    """Reject a --sort-by path whose field the records do not have (exit 64 naming the known ones).

    Raises:
        UsageError: the field is unknown or the path malformed.
    """
    from proxmox_mpc.output.jsonpath import JsonPathError, parse_path

    try:
        path = parse_path(field)
    except JsonPathError as exc:
        raise UsageError(f"--sort-by: {exc}") from None
    dotted = ".".join(str(step.arg) for step in path.steps if step.op == "key")
    if not dotted or not any(name == dotted or name.startswith(dotted + ".") or dotted.startswith(name + ".")
                             for name in known):
        top = list(dict.fromkeys(name.split(".")[0] for name in known))
        raise UsageError(f"--sort-by: unknown field {field!r}: use one of {', '.join(top)} (dotted paths work).")


def sort_records(
    records: list[dict[str, Any]], field: str | None, *, known: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Sort dumped records by a field path; missing values last; numbers numerically.

    `known` names the fields a list of this kind has (for an empty list too); by default the records' own.

    Raises:
        UsageError: the field is not one of them.
    """
    if not field:
        return records
    check_sort_field(field, list(known or ()) + field_names(records))

    def key(record: dict[str, Any]) -> tuple[int, Any]:
        value = lookup(record, field)
        if value is None:
            return (2, "")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (0, value)
        return (1, str(value).lower())

    return sorted(records, key=key)


def model_fields(model: type[Any]) -> list[str]:
    """Return the dotted field names of a pydantic model class (nested models expanded)."""
    from typing import get_args

    names: list[str] = []
    for name, info in model.model_fields.items():
        inner = [a for a in (info.annotation, *get_args(info.annotation)) if hasattr(a, "model_fields")]
        if inner:
            names.extend(f"{name}.{sub}" for sub in model_fields(inner[0]))
        else:
            names.append(name)
    return names


class Printer(Protocol):
    def print_list(self, out: TextIO, records: list[dict[str, Any]]) -> None: ...
    def print_one(self, out: TextIO, record: dict[str, Any]) -> None: ...


def dump_json(data: Any) -> str:
    """Return indented JSON (pydantic-core's encoder: an order of magnitude faster than json.dumps)."""
    from pydantic_core import to_json

    return to_json(data, indent=2).decode("utf-8")


class JsonPrinter:
    def print_list(self, out: TextIO, records: list[dict[str, Any]]) -> None:
        out.write(dump_json(records) + "\n")

    def print_one(self, out: TextIO, record: dict[str, Any]) -> None:
        out.write(dump_json(record) + "\n")


class YamlPrinter:
    def print_list(self, out: TextIO, records: list[dict[str, Any]]) -> None:
        from proxmox_mpc.output.yaml_text import safe_dump

        out.write(safe_dump(records, sort_keys=False, allow_unicode=True) if records else "[]\n")

    def print_one(self, out: TextIO, record: dict[str, Any]) -> None:
        from proxmox_mpc.output.yaml_text import safe_dump

        out.write(safe_dump(record, sort_keys=False, allow_unicode=True))


class NamePrinter:
    def __init__(self, name_of: Callable[[dict[str, Any]], str]) -> None:
        self.name_of = name_of

    def print_list(self, out: TextIO, records: list[dict[str, Any]]) -> None:
        for record in records:
            out.write(self.name_of(record) + "\n")

    def print_one(self, out: TextIO, record: dict[str, Any]) -> None:
        out.write(self.name_of(record) + "\n")


class TablePrinter:
    def __init__(self, columns: Sequence[Column], *, wide: bool, headers: bool) -> None:
        self.columns = [c for c in columns if wide or not c.wide]
        self.headers = headers

    def rows(self, records: Iterable[dict[str, Any]]) -> list[list[str]]:
        cells = [(getter(c.field), c.format) for c in self.columns]
        rows = []
        for record in records:
            row = []
            for get, fmt in cells:
                value = get(record)
                row.append(fmt(value) if fmt and value is not None else cell(value))
            rows.append(row)
        return rows

    def print_list(self, out: TextIO, records: list[dict[str, Any]]) -> None:
        from tabulate import tabulate

        rows = self.rows(records)
        if not rows:
            return
        # The header row is always laid out, then dropped for --no-headers: the spacing stays the same.
        lines = tabulate(
            rows, headers=[c.header for c in self.columns], tablefmt="plain", disable_numparse=True
        ).splitlines()
        out.write("\n".join(line.rstrip() for line in lines[0 if self.headers else 1 :]) + "\n")

    def print_one(self, out: TextIO, record: dict[str, Any]) -> None:
        self.print_list(out, [record])


def default_name(record: dict[str, Any]) -> str:
    """Return kind/id for a record: vm/101, ct/201, node/pve1, storage/local."""
    kind = record.get("kind") or record.get("type") or "item"
    kind = {"qemu": "vm", "lxc": "ct"}.get(str(kind), str(kind))
    ident = record.get("vmid") or record.get("node") or record.get("name") or record.get("id")
    if kind == "node":
        ident = record.get("node") or record.get("name")
    return f"{kind}/{ident}"


class JsonPathPrinter:
    """`-o jsonpath=TEMPLATE`: a list is `{"kind": "List", "items": [...]}`, as kubectl's, one object itself."""

    def __init__(self, spec: str) -> None:
        from proxmox_mpc.output.jsonpath import JsonPathError, parse_template

        try:
            self.template = parse_template(spec[len(JSONPATH_PREFIX) :])
        except JsonPathError as exc:
            raise UsageError(f"-o/--output: {exc}") from None

    def print_list(self, out: TextIO, records: list[dict[str, Any]]) -> None:
        out.write(self.template.render({"kind": "List", "items": records}))

    def print_one(self, out: TextIO, record: dict[str, Any]) -> None:
        out.write(self.template.render(record))


def format_family(fmt: str) -> str:
    """Return the family of an -o value: `jsonpath` for `jsonpath=...`, `custom-columns` for its kind."""
    for prefix in (CUSTOM_PREFIX, JSONPATH_PREFIX):
        if fmt.startswith(prefix):
            return prefix[:-1]
    return fmt


def get_printer(
    fmt: str,
    columns: Sequence[Column] = (),
    *,
    headers: bool = True,
    name_of: Callable[[dict[str, Any]], str] = default_name,
) -> Printer:
    """Return the printer for an output format.

    Raises:
        UsageError: the format is unknown or its template/columns malformed.
    """
    if fmt == "json":
        return JsonPrinter()
    if fmt == "yaml":
        return YamlPrinter()
    if fmt == "name":
        return NamePrinter(name_of)
    if fmt in ("table", "wide"):
        return TablePrinter(columns, wide=fmt == "wide", headers=headers)
    if fmt.startswith(CUSTOM_PREFIX):
        return TablePrinter(parse_custom_columns(fmt), wide=True, headers=headers)
    if fmt.startswith(JSONPATH_PREFIX):
        return JsonPathPrinter(fmt)
    raise UsageError(f"Unknown output format {fmt!r} for -o/--output: use {describe_formats(LIST_FORMATS)}.")


def check_format(fmt: str, allowed: Sequence[str] = LIST_FORMATS) -> None:
    """Reject an -o value this command does not take, or a malformed template, before any I/O.

    Raises:
        UsageError: naming -o/--output and the formats this command takes.
    """
    if format_family(fmt) not in allowed or fmt in (CUSTOM_PREFIX[:-1], JSONPATH_PREFIX[:-1]):
        raise UsageError(
            f"Unknown output format {fmt!r} for -o/--output: this command takes {describe_formats(allowed)}."
        )
    if format_family(fmt) in LIST_FORMATS:  # others (markdown) are rendered by the command itself
        get_printer(fmt)


def print_list(
    out: TextIO,
    err: TextIO,
    items: Sequence[Any],
    *,
    fmt: str,
    columns: Sequence[Column],
    plural: str,
    sort_by: str | None = None,
    headers: bool = True,
    name_of: Callable[[dict[str, Any]], str] = default_name,
    model: type[Any] | None = None,
) -> None:
    """Print a list in the chosen format; an empty list says so on stderr (JSON/YAML print []).

    `model` (the items' pydantic class) lets --sort-by reject an unknown field even for an empty list.

    Raises:
        UsageError: a bad format, or a --sort-by field the items do not have.
    """
    printer = get_printer(fmt, columns, headers=headers, name_of=name_of)
    if model is None and items and hasattr(type(items[0]), "model_fields"):
        model = type(items[0])
    known = model_fields(model) if model is not None else None
    records = sort_records([to_data(i) for i in items], sort_by, known=known)
    if not records:
        if fmt in ("json", "yaml") or fmt.startswith(JSONPATH_PREFIX):
            printer.print_list(out, records)
        err.write(f"No {plural} found.\n")
        return
    printer.print_list(out, records)


def print_one(
    out: TextIO,
    item: Any,
    *,
    fmt: str,
    columns: Sequence[Column],
    headers: bool = True,
    name_of: Callable[[dict[str, Any]], str] = default_name,
) -> None:
    """Print a single object in the chosen format (JSON/YAML: an object, not an array)."""
    get_printer(fmt, columns, headers=headers, name_of=name_of).print_one(out, to_data(item))


def print_details(out: TextIO, record: dict[str, Any], indent: int = 0, *, titled: bool = True) -> None:
    """Print a nested record as an indented `Key: value` description (kubectl describe style).

    pmpc's own top-level keys are titled (`Ip addresses:`); nested keys are Proxmox's and case-sensitive,
    so they print as they are (`net0:`, never `Net0:`), as do all keys with titled=False.
    """
    pad = "  " * indent
    width = max((len(str(k)) for k in record), default=0) + 1
    for key, value in record.items():
        label = f"{_title(str(key)) if titled and indent == 0 else key}:"
        if isinstance(value, dict) and value:
            out.write(f"{pad}{label}\n")
            print_details(out, value, indent + 1, titled=titled)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out.write(f"{pad}{label}\n")
            from tabulate import tabulate

            keys = list(dict.fromkeys(k for row in value for k in row))
            rows = [[cell(row.get(k)) for k in keys] for row in value]
            text = tabulate(rows, headers=[k.upper() for k in keys], tablefmt="plain", disable_numparse=True)
            for line in text.splitlines():
                out.write(f"{pad}  {line.rstrip()}\n")
        else:
            out.write(f"{pad}{label:<{width + 1}} {cell(value)}\n")


def _title(key: str) -> str:
    return key.replace("_", " ").capitalize()
