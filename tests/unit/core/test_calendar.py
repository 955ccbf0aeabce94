"""PVE calendar events are checked offline as PVE parses them."""

from __future__ import annotations

import pytest

from proxmox_mpc.core.calendar import check_calendar_event

GOOD = [
    "02:30",
    "sat 02:00",
    "mon..fri 22:00",
    "mon,wed,fri",
    "*-*-01 03:00",
    "*-*-* 02:00",
    "2015-10-21",
    "sat *-1..7 15:00",
    "daily",
    "Weekly",
    "*/15",
    "*",
    "*:0",
    "mon..wed 30/10",
    "mon..fri 8..17,22:0/15",
    "fri 12..13:5/20",
    "12,14,16,18,20,22:5",
    "monday 02:00",
]
BAD = [
    "",
    "25:00",
    "02:60",
    "every day",
    "hello",
    "xyz 02:00",
    "02:00 mon",
    "*-13-01",
    "1:2:3:4",
    "mon..fri 22:00 extra",
    "22..20:00",
    "*/0",
]


@pytest.mark.parametrize("event", GOOD, ids=GOOD)
def test_events_pve_accepts_pass(event):
    assert check_calendar_event(event) == event


@pytest.mark.parametrize("event", BAD, ids=[b or "empty" for b in BAD])
def test_events_pve_refuses_are_one_sentence(event):
    with pytest.raises(ValueError, match=r"is not a PVE calendar event: write e\.g\."):
        check_calendar_event(event)
