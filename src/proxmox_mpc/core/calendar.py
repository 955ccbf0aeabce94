"""PVE calendar events (`sat 02:00`, `mon..fri 22:30`, `*/15`, `daily`): checked offline, as PVE parses them.

A calendar event is `[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:]MINUTE[:SECOND]` (systemd's OnCalendar, as PVE's
backup jobs and replication take it), or one of the words PVE expands (`daily` is `*-*-* 00:00`). Each
number may be `*`, a value, a range `a..b`, a repetition `a/step` or `a..b/step`, or a comma list of those.
"""

from __future__ import annotations

import re

WORDS = frozenset(
    {"minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "quarterly", "semiannually",
     "semi-annually"}
)
_DAYS = "mon|tue|wed|thu|fri|sat|sun"
_DAY = rf"(?:{_DAYS})[a-z]*"
WEEKDAYS = re.compile(rf"{_DAY}(?:\.\.{_DAY})?(?:,{_DAY}(?:\.\.{_DAY})?)*")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PART = re.compile(r"(\*|\d+)(?:\.\.(\d+))?(?:/(\d+))?")
# The highest value of each position: year, month, day; hour, minute, second.
_DATE_MAX = (9999, 12, 31)
_TIME_MAX = (23, 59, 59)


def _values_ok(text: str, highest: int) -> bool:
    for part in text.split(","):
        found = _PART.fullmatch(part)
        if not found:
            return False
        start, end, step = found.groups()
        numbers = [int(n) for n in (start, end) if n and n != "*"]
        if any(n > highest for n in numbers) or (step is not None and int(step) == 0):
            return False
        if end is not None and (start == "*" or int(end) < int(start)):
            return False
    return True


def _weekdays_ok(text: str) -> bool:
    if not WEEKDAYS.fullmatch(text):
        return False
    words = re.split(r"\.\.|,", text)
    return all(w[:3] in _DAYS.split("|") and (len(w) == 3 or w in _DAY_NAMES) for w in words)


def _date_ok(text: str) -> bool:
    parts = text.split("-")
    if not 2 <= len(parts) <= 3:
        return False
    highest = _DATE_MAX[-len(parts) :]
    return all(_values_ok(p, h) for p, h in zip(parts, highest, strict=True))


def _time_ok(text: str) -> bool:
    parts = text.split(":")
    if len(parts) > 3:
        return False
    # A lone value is the minute (`*/15`: every 15 minutes), as in PVE.
    highest = _TIME_MAX[1:2] if len(parts) == 1 else _TIME_MAX[: len(parts)]
    return all(_values_ok(p, h) for p, h in zip(parts, highest, strict=True))


def check_calendar_event(value: str) -> str:
    """Return a PVE calendar event as given when PVE would accept it.

    Raises:
        ValueError: one sentence saying what the event should look like.
    """
    text = value.strip()
    words = text.lower().split()
    if len(words) == 1 and words[0] in WORDS:
        return text
    rest = list(words)
    # Each part is optional, in this order: weekdays, a date, a time ("!" marks a part that is wrong).
    if rest and rest[0][:1].isalpha() and not _weekdays_ok(rest.pop(0)):
        rest = ["!"]
    if rest and "-" in rest[0] and ":" not in rest[0] and not _date_ok(rest.pop(0)):
        rest = ["!"]
    if rest and _time_ok(rest[0]):
        rest.pop(0)
    if rest or not words:
        raise ValueError(
            f"{value!r} is not a PVE calendar event: write e.g. `02:30`, `sat 02:00`, `mon..fri 22:00`, "
            "`*-*-01 03:00` or `daily`"
        )
    return text
