"""JUnit XML: one test case per check, well-formed whatever the student printed."""
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.batch.discover import Person
from grader.batch.outcome import ERROR, GRADED, MISSING, RoleOutcome, StudentResult
from grader.report import RENDERERS, render
from grader.report.junit import render_junit, render_junit_batch, xml_text
from conftest import FIXTURES, ROOT
from test_batch_support import make_report


def test_one_case_per_check_with_failures_and_skips():
    report = make_report("server", ["server.sends_message"], skipped=["server.sent_printed"])
    root = ET.fromstring(render_junit([report]))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.id for c in report.checks]
    assert suite.get("tests") == "9" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    failed = next(c for c in cases if c.get("name") == "server.sends_message")
    assert "decode the bytes" in failed.find("failure").text
    assert next(c for c in cases if c.get("name") == "server.sent_printed").find("skipped") is not None
    assert next(c for c in cases if c.get("name") == "server.runs").find("failure") is None
    assert root.get("tests") == "9"


def test_the_cli_offers_junit():
    report = make_report("server", ["server.sends_message"])
    assert "junit" in RENDERERS
    assert render("junit", [report]) == render_junit([report])


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_any_student_output_gives_well_formed_xml(text):
    report = make_report("client", ["client.prints_message"], stdout=text, stderr=text)
    root = ET.fromstring(render_junit([report]))  # must parse
    out = root.find("testsuite").find("system-out")
    if text:
        # Everything XML can carry survives as it was (XML reads line ends as \n); the rest
        # becomes U+FFFD, never a broken file.
        expected = xml_text(text).replace("\r\n", "\n").replace("\r", "\n")
        assert out.text == expected
        assert len(out.text) <= len(text)


def test_batch_junit_has_a_suite_per_student_and_role():
    ok = StudentResult("a", "Ann", (Person("Ann"),), {
        "server": RoleOutcome("server", GRADED, report=make_report("server")),
        "client": RoleOutcome("client", MISSING, reason="no client file found")})
    bad = StudentResult("b", "<Bob & Co>", (Person("Bob"),), {
        "server": RoleOutcome("server", ERROR, reason="server.py is empty"),
        "client": RoleOutcome("client", GRADED, report=make_report("client", ["client.closes"]))})
    root = ET.fromstring(render_junit_batch([ok, bad]))
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == ["Ann server", "Ann client", "<Bob & Co> server", "<Bob & Co> client"]
    missing = root.findall("testsuite")[1]
    assert missing.get("errors") == "7"
    assert missing.find("testcase/error").get("message") == "no client file found"
    assert root.get("failures") == "1"


# --- Validity against Jenkins' schema (tests/formats/junit-10.xsd restates junit-10.xsd) -------

JUNIT_XSD = Path(__file__).parent / "formats" / "junit-10.xsd"


@pytest.fixture(scope="module")
def jenkins_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def _assert_valid(schema, document: str) -> None:
    errors = [str(e).splitlines()[0] for e in schema.iter_errors(document)]
    assert errors == []


def test_the_schema_refuses_what_jenkins_refuses(jenkins_schema):
    # The attribute our report used to carry on <testsuites>, a suite without its required
    # counts, and a time Jenkins cannot read: each must be refused, or the schema checks nothing.
    refused = [
        '<testsuites skipped="1"><testsuite name="a" tests="0" failures="0" errors="0"/></testsuites>',
        '<testsuites><testsuite name="a" tests="1"/></testsuites>',
        '<testsuites><testsuite name="a" tests="0" failures="0" errors="0" time="1s"/></testsuites>',
        '<testsuites><testsuite name="a" tests="1" failures="0" errors="0"><testcase/></testsuite></testsuites>',
    ]
    for document in refused:
        assert not jenkins_schema.is_valid(document), document


@pytest.mark.parametrize("role, fixture", [("server", "reference"), ("server", "different_wording.py"),
                                           ("client", "reference"), ("client", "prints_repr_text.py")])
def test_a_real_grading_gives_valid_junit(jenkins_schema, role, fixture):
    path = ROOT / "reference" / f"{role}.py" if fixture == "reference" else FIXTURES / role / fixture
    assert path.exists(), path
    done = subprocess.run([sys.executable, "-m", "grader", role, str(path), "--format", "junit"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    _assert_valid(jenkins_schema, done.stdout)
    root = ET.fromstring(done.stdout)
    assert root.get("skipped") is None
    assert float(root.get("time")) >= float(root.find("testsuite").get("time")) > 0


def test_a_batch_with_missing_and_error_roles_gives_valid_junit(jenkins_schema):
    results = [
        StudentResult("a", "Ann", (Person("Ann"),), {
            "server": RoleOutcome("server", GRADED, report=make_report(
                "server", ["server.sends_message"], skipped=["server.sent_printed"])),
            "client": RoleOutcome("client", MISSING, reason="no client file found")}),
        StudentResult("b", "<Bob & \x00Co>", (Person("Bob"),), {
            "server": RoleOutcome("server", ERROR, reason="server.py is empty"),
            "client": RoleOutcome("client", GRADED, report=make_report("client", ["client.closes"]))}),
    ]
    document = render_junit_batch(results)
    _assert_valid(jenkins_schema, document)
    root = ET.fromstring(document)
    assert [root.get(k) for k in ("tests", "failures", "errors")] == ["32", "2", "16"]


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=120))
def test_any_student_text_keeps_the_report_valid(jenkins_schema, text):
    report = make_report("server", ["server.sends_message"], skipped=["server.sent_printed"],
                         stdout=text, stderr=text)
    _assert_valid(jenkins_schema, render_junit([report]))
