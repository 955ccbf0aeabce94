"""One printer per output format behind get_printer(fmt); stdout carries data only."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, TextIO

from proxmox_mpc.errors import UsageError

FORMATS = ("table", "wide", "json", "yaml", "name")
CUSTOM_PREFIX = "custom-columns="


@dataclass(frozen=True)
class Column:
    """A table column: header, the (dotted) field it shows, and whether only `-o wide` shows it."""

    header: str
    field: str
    wide: bool = False
    format: Callable[[Any], str] | None = None


def lookup(record: Any, path: str) -> Any:
    """Return record[a][b] for the dotted path `a.b` (a leading dot is allowed), None when absent."""
    current = record
    for part in path.lstrip(".").split("."):
        if part == "":
            continue
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


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
        return item.astimezone(timezone.utc).isoformat()
    return item


def parse_custom_columns(spec: str) -> list[Column]:
    """Parse `custom-columns=NAME:.field,VMID:.vmid` into columns."""
    body = spec[len(CUSTOM_PREFIX) :]
    columns = []
    for part in filter(None, body.split(",")):
        header, sep, field = part.partition(":")
        if not sep or not header or not field:
            raise UsageError(f"Bad custom column {part!r}: write HEADER:.field, e.g. NAME:.name.")
        columns.append(Column(header=header, field=field))
    if not columns:
        raise UsageError("custom-columns= needs at least one HEADER:.field.")
    return columns


def sort_records(records: list[dict[str, Any]], field: str | None) -> list[dict[str, Any]]:
    """Sort dumped records by a (dotted) field; missing values last; numbers numerically."""
    if not field:
        return records

    def key(record: dict[str, Any]) -> tuple[int, Any]:
        value = lookup(record, field)
        if value is None:
            return (2, "")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (0, value)
        return (1, str(value).lower())

    return sorted(records, key=key)


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
        rows = []
        for record in records:
            row = []
            for column in self.columns:
                value = lookup(record, column.field)
                row.append(column.format(value) if column.format and value is not None else cell(value))
            rows.append(row)
        return rows

    def print_list(self, out: TextIO, records: list[dict[str, Any]]) -> None:
        from tabulate import tabulate

        rows = self.rows(records)
        if not rows:
            return
        headers = [c.header for c in self.columns] if self.headers else ()
        text = tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True)
        out.write("\n".join(line.rstrip() for line in text.splitlines()) + "\n")

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


def get_printer(
    fmt: str,
    columns: Sequence[Column] = (),
    *,
    headers: bool = True,
    name_of: Callable[[dict[str, Any]], str] = default_name,
) -> Printer:
    """Return the printer for an output format.

    Raises:
        UsageError: the format is unknown.
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
    raise UsageError(
        f"Unknown output format {fmt!r} for -o/--output: use one of {', '.join(FORMATS)} "
        "or custom-columns=HEADER:.field,..."
    )


def check_format(fmt: str) -> None:
    """Reject an unknown -o value before any I/O."""
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
) -> None:
    """Print a list in the chosen format; an empty list says so on stderr (JSON/YAML print [])."""
    printer = get_printer(fmt, columns, headers=headers, name_of=name_of)
    records = sort_records([to_data(i) for i in items], sort_by)
    if not records:
        if fmt in ("json", "yaml"):
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


def print_details(out: TextIO, record: dict[str, Any], indent: int = 0) -> None:
    """Print a nested record as an indented `Key: value` description (kubectl describe style)."""
    pad = "  " * indent
    width = max((len(str(k)) for k in record), default=0) + 1
    for key, value in record.items():
        label = f"{_title(str(key))}:"
        if isinstance(value, dict) and value:
            out.write(f"{pad}{label}\n")
            print_details(out, value, indent + 1)
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
