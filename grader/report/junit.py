"""JUnit XML: one test case per check, for CI systems (Jenkins, GitLab, ...).

A passed check is a plain test case, a skipped one is ``<skipped>`` with the reason, a failed
one ``<failure>`` with expected / actual / hint.  Students' output can hold anything, including
characters XML 1.0 forbids (a stray NUL or escape code, a lone surrogate), so every text is
cleaned before it goes in (``safe_text.markup_text``); ElementTree does the escaping.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Iterable, List, Sequence, Tuple

from grader.report.safe_text import markup_text
from grader.judging.results import CheckResult, Report, Status

MAX_OUTPUT_CHARS = 50_000


def xml_text(text: object) -> str:
    cleaned = markup_text(text)
    if len(cleaned) > MAX_OUTPUT_CHARS:
        cleaned = cleaned[:MAX_OUTPUT_CHARS] + f"\n[... {len(cleaned) - MAX_OUTPUT_CHARS} more characters]"
    return cleaned


def _message(check: CheckResult) -> str:
    lines = [check.description]
    for label, value in (("expected", check.expected), ("actual", check.actual), ("hint", check.hint)):
        if value:
            lines.append(f"{label}: {value}")
    lines.extend(check.notes)
    return "\n".join(lines)


def _suite(name: str, report: Report) -> ET.Element:
    checks = report.checks
    suite = ET.Element("testsuite", {
        "name": xml_text(name),
        "tests": str(len(checks)),
        "failures": str(sum(c.status is Status.FAILED for c in checks)),
        "errors": "0",
        "skipped": str(sum(c.status is Status.SKIPPED for c in checks)),
        "time": f"{report.duration:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    named = (("exercise", report.exercise),) if report.exercise else ()  # what it was graded in
    for key, value in named + (("file", report.file), ("score", f"{report.score:g}"),
                               ("max_score", f"{report.max_score:g}")):
        ET.SubElement(props, "property", {"name": key, "value": xml_text(value)})
    for check in checks:
        case = ET.SubElement(suite, "testcase", {
            "classname": xml_text(f"{name}.{report.role}" if name != report.role else report.role),
            "name": xml_text(check.id),
            "time": "0",
        })
        if check.status is Status.FAILED:
            first = check.hint or check.actual or check.description
            ET.SubElement(case, "failure", {"message": xml_text(first), "type": "CheckFailed"}).text = \
                xml_text(_message(check))
        elif check.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", {"message": xml_text(check.hint or check.actual or
                                                                 "a check it depends on failed")})
    if report.stdout:
        ET.SubElement(suite, "system-out").text = xml_text(report.stdout)
    if report.stderr:
        ET.SubElement(suite, "system-err").text = xml_text(report.stderr)
    return suite


def _error_suite(name: str, role: str, message: str, check_ids: Sequence[str],
                 exercise: str = "") -> ET.Element:
    """A role with no report (missing file, ungradable file): every check errors with the reason."""
    suite = ET.Element("testsuite", {"name": xml_text(name), "tests": str(len(check_ids)),
                                     "failures": "0", "errors": str(len(check_ids)), "skipped": "0",
                                     "time": "0"})
    if exercise:
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", {"name": "exercise", "value": xml_text(exercise)})
    for cid in check_ids:
        case = ET.SubElement(suite, "testcase", {"classname": xml_text(f"{name}.{role}"),
                                                 "name": xml_text(cid), "time": "0"})
        ET.SubElement(case, "error", {"message": xml_text(message), "type": "NotGraded"})
    return suite


def _document(suites: Iterable[ET.Element]) -> str:
    # Jenkins' junit-10.xsd allows only name, time, tests, failures and errors on <testsuites>
    # (``skipped`` belongs on each <testsuite>); a report it refuses is not shown at all.
    root = ET.Element("testsuites")
    total = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for suite in suites:
        root.append(suite)
        for key in total:
            total[key] += int(suite.get(key, "0"))
        seconds += float(suite.get("time", "0"))
    for key, value in total.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_junit(reports: List[Report], *, color: bool = False, verbose: bool = False) -> str:
    """The ``--format junit`` renderer of the single-program grader (one suite per program)."""
    return _document(_suite(r.role, r) for r in reports)


def render_junit_batch(results: Sequence["object"], exercise: "object" = None) -> str:
    """One suite per student and role (``results`` are batch ``StudentResult`` values), graded
    in ``exercise`` (default: Hello World)."""
    from grader.exercises.default import HELLO_WORLD, ROLES

    exercise = exercise or HELLO_WORLD
    suites: List[ET.Element] = []
    for result in results:
        for role in ROLES:
            outcome = result.roles[role]
            name = f"{result.student} {role}"
            if outcome.report is not None:
                suites.append(_suite(name, outcome.report))
            else:
                reason = outcome.reason or f"no {role} file"
                suites.append(_error_suite(name, role, reason,
                                           [s.id for s in exercise.specs(role)], exercise.name))
    return _document(suites)


__all__: Tuple[str, ...] = ("render_junit", "render_junit_batch", "xml_text")
