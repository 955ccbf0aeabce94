"""`pmpc test --junit`: the report is valid JUnit.

Three readers agree: an XSD of the format (tests/fixtures/junit/junit.xsd, which pytest's own
--junitxml output also passes), junitparser (the reader CI result publishers use), and pmpc's reader
of pytest's reports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema
from junitparser import Failure, JUnitXml

from proxmox_mpc.output.junit import render_junit
from proxmox_mpc.services.infra_test import CheckResult, TestRun, _finish, _group, parse_junit

RUN = _finish(
    "builtin",
    [
        _group("vm/web-1", [CheckResult(name="exists", ok=True), CheckResult(name="memory", ok=True)]),
        _group(
            "vm/web-2",
            [
                CheckResult(name="exists", ok=True),
                CheckResult(name="state", ok=False, message="state: want running, got stopped"),
                CheckResult(name="tags", ok=False, message="tags: want ['<a&b>'], got []"),
            ],
        ),
    ],
)


XSD = Path(__file__).resolve().parents[2] / "fixtures" / "junit" / "junit.xsd"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def test_the_report_is_valid_against_the_junit_schema(schema):
    schema.validate(render_junit(RUN.model_dump(mode="json")))
    schema.validate(render_junit(_finish("generated", []).model_dump(mode="json")))


def test_the_schema_accepts_pytests_own_report_and_refuses_a_broken_one(schema, tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\ndef test_ok():\n    pass\n\ndef test_bad():\n    assert 1 == 2\n\n"
        "@pytest.mark.skip(reason='later')\ndef test_later():\n    pass\n"
    )
    report = tmp_path / "pytest.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    str(tmp_path / "test_sample.py")], cwd=tmp_path, capture_output=True, check=False)  # fmt: skip
    schema.validate(str(report))
    broken = render_junit(RUN.model_dump(mode="json")).replace('name="memory"', "", 1)
    assert not schema.is_valid(broken)  # a test case without a name


def _read(run: TestRun, tmp_path: Path) -> JUnitXml:
    path = tmp_path / "report.xml"
    path.write_text(render_junit(run.model_dump(mode="json")), encoding="utf-8")
    return JUnitXml.fromfile(str(path))


def test_one_testcase_per_guest_and_check(tmp_path):
    xml = _read(RUN, tmp_path)
    assert (xml.tests, xml.failures, xml.errors) == (5, 2, 0)
    cases = [(suite.name, case.classname, case.name) for suite in xml for case in suite]
    assert cases == [
        ("vm/web-1", "vm/web-1", "exists"),
        ("vm/web-1", "vm/web-1", "memory"),
        ("vm/web-2", "vm/web-2", "exists"),
        ("vm/web-2", "vm/web-2", "state"),
        ("vm/web-2", "vm/web-2", "tags"),
    ]


def test_a_failed_check_is_a_failure_with_its_message(tmp_path):
    failures = {
        case.name: case.result[0] for suite in _read(RUN, tmp_path) for case in suite if not case.is_passed
    }
    assert set(failures) == {"state", "tags"}
    assert isinstance(failures["state"], Failure)
    assert failures["state"].message == "state: want running, got stopped"
    assert failures["state"].text == "state: want running, got stopped"
    assert failures["tags"].message == "tags: want ['<a&b>'], got []"  # escaped in XML, intact when read


def test_pmpcs_own_junit_reader_reads_it_back_the_same():
    guests = parse_junit(render_junit(RUN.model_dump(mode="json")))
    assert [(g.guest, g.result, g.passed, g.failed) for g in guests] == [
        ("vm/web-1", "pass", 2, 0),
        ("vm/web-2", "fail", 1, 2),
    ]


def test_an_empty_run_is_a_valid_empty_report(tmp_path):
    xml = _read(_finish("builtin", []), tmp_path)
    assert (xml.tests, xml.failures) == (0, 0) and list(xml) == []
