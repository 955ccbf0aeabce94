"""`pmpc test` as a JUnit XML report, so CI systems show each guest's failed checks natively.

Pure: the test run (as `pmpc test -o json` prints it) in, XML text out. One `<testsuite>` per guest,
one `<testcase>` per check of that guest; a failed check holds a `<failure>` with its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUITES_NAME = "pmpc test"
MODE_NAMES = {"builtin": "built-in checks", "generated": "generated tests"}


def render_junit(run: Mapping[str, Any]) -> str:
    """Return the JUnit XML document of a test run."""
    import xml.etree.ElementTree as ET

    mode = MODE_NAMES.get(str(run.get("mode")), str(run.get("mode")))
    root = ET.Element("testsuites", name=f"{SUITES_NAME} ({mode})")
    total = failed = 0
    for guest in run.get("guests") or []:
        checks = guest.get("checks") or []
        bad = sum(1 for check in checks if not check["ok"])
        suite = ET.SubElement(
            root, "testsuite", name=str(guest["guest"]), tests=str(len(checks)), failures=str(bad),
            errors="0", skipped="0",
        )  # fmt: skip
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=str(guest["guest"]), name=str(check["name"]))
            if not check["ok"]:
                message = str(check.get("message") or f"{check['name']} failed")
                failure = ET.SubElement(case, "failure", message=message, type="CheckFailed")
                failure.text = message
        total += len(checks)
        failed += bad
    root.set("tests", str(total))
    root.set("failures", str(failed))
    root.set("errors", "0")
    root.set("skipped", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
