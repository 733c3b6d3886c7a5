"""``python -m grader selftest``: grade an exercise's own programs and say what disagrees.

The reference programs must get full marks; the blank templates zero, with a report that says
why (every failure with what was expected and what happened, every skip with a reason); and each
fixture the verdicts its docstring declares:

    expect: runs=pass listens=pass ... exits=fail     (check names without the role)
    hints: exits=a phrase of the hint; sends_message=another   (optional)
    options: timeout=2                                 (optional)

Fixtures are ``<fixtures>/<role>/*.py`` and ``<fixtures>/<role>/<name>/<role>.py`` (a program
with files beside it).  Gradings run in parallel threads: grading is thread-safe.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, TextIO

from grader.judging import hints
from grader.grading import GradeOptions, grade_file
from grader.judging.results import Report
from grader.exercises.steps import ROLES, Exercise

_WORD = {"pass": "passed", "fail": "failed", "skip": "skipped"}


class Program(NamedTuple):
    """One program of the self-test and what it must get."""

    label: str  # "reference server", "fixture server/never_closes"
    role: str
    path: Path
    want: str  # "full marks", "zero", or "verdicts"
    expect: Dict[str, str] = {}  # check id -> passed / failed / skipped
    hints: Dict[str, List[str]] = {}  # check id -> phrases of its hint or what happened
    timeout: Optional[float] = None


def parse_fixture(role: str, path: Path) -> Program:
    """Read a fixture's ``expect:``, ``hints:`` and ``options:`` lines (by hand, not with ast:
    some fixtures are not valid Python 3 on purpose)."""
    parts = path.read_text(encoding="utf-8").split('"""')
    if len(parts) < 3:
        raise ValueError("%s has no docstring with an expect: line" % path)
    fields = dict(re.findall(r"^(expect|hints|options): (.*)$", parts[1], re.M))
    if "expect" not in fields:
        raise ValueError("%s: its docstring has no expect: line" % path)
    expect = {}
    for pair in fields["expect"].split():
        name, verdict = pair.split("=")
        expect["%s.%s" % (role, name)] = _WORD[verdict]
    hints: Dict[str, List[str]] = {}
    for item in filter(None, (h.strip() for h in fields.get("hints", "").split(";"))):
        name, text = item.split("=", 1)
        hints.setdefault("%s.%s" % (role, name), []).append(text)
    options = dict(o.split("=") for o in fields.get("options", "").split())
    name = path.stem if path.name != role + ".py" else path.parent.name
    return Program("fixture %s/%s" % (role, name), role, path, "verdicts", expect, hints,
                   float(options["timeout"]) if "timeout" in options else None)


def programs_of(exercise: Exercise) -> List[Program]:
    found = []
    for role in ROLES:
        reference = exercise.files.get("reference", {}).get(role)
        if reference:
            found.append(Program("reference " + role, role, Path(reference), "full marks"))
        template = exercise.files.get("template", {}).get(role)
        if template:
            found.append(Program("template " + role, role, Path(template), "zero"))
    fixtures = exercise.files.get("other", {}).get("fixtures")
    if fixtures:
        for role in ROLES:
            folder = Path(fixtures) / role
            paths = sorted(folder.glob("*.py")) + sorted(folder.glob("*/%s.py" % role))
            found += [parse_fixture(role, p) for p in paths]
    return found


def disagreements(program: Program, report: Report) -> List[str]:
    """What in ``report`` disagrees with what ``program`` must get (empty: all agree)."""
    found = []
    if program.want == "full marks" and not report.full_marks:
        found += ["%s %s, not passed" % (c.id, c.status.value) for c in report.checks if not c.passed]
    if program.want == "zero":
        if report.score != 0:
            found.append("scored %g, not 0" % report.score)
        runs = report.check(program.role + ".runs")
        if runs.hint != hints.TEMPLATE:
            found.append("%s.runs does not say it is the blank template (hint: %r)" % (program.role, runs.hint))
        for c in report.checks:
            if c.status.value == "failed" and not (c.expected and c.actual):
                found.append("%s fails without saying why" % c.id)
            if c.status.value == "skipped" and not c.reason:
                found.append("%s is skipped without a reason" % c.id)
    if program.want == "verdicts":
        got = {c.id: c.status.value for c in report.checks}
        for check_id in sorted(set(got) | set(program.expect)):
            if got.get(check_id) != program.expect.get(check_id):
                found.append("%s: expected %s, got %s" % (check_id, program.expect.get(check_id, "no such check"),
                                                          got.get(check_id, "no such check")))
        for check_id, phrases in program.hints.items():
            if check_id not in got:
                continue
            result = report.check(check_id)
            said = " ".join(filter(None, (result.hint, result.actual)))
            found += ["%s: %r is not in what it said (%r)" % (check_id, p, said) for p in phrases if p not in said]
    return found


def run_selftest(exercise: Exercise, jobs: int = 8, out: Optional[TextIO] = None) -> bool:
    """Grade every program of the exercise; print a line per program that disagrees and a
    summary.  True when all agree."""
    programs = programs_of(exercise)

    def grade(program: Program) -> List[str]:
        try:
            report = grade_file(program.role, program.path, GradeOptions(timeout=program.timeout),
                                exercise=exercise)
        except Exception as exc:  # a file that cannot be graded disagrees, it does not stop the rest
            return ["could not be graded: %s: %s" % (type(exc).__name__, exc)]
        return disagreements(program, report)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        results = list(pool.map(grade, programs))
    bad = 0
    for program, problems in zip(programs, results):
        if problems:
            bad += 1
            if out is not None:
                out.write("DISAGREES  %s (%s)\n" % (program.label, program.path))
                for problem in problems:
                    out.write("    %s\n" % problem)
    if out is not None:
        out.write("%s: %d program(s) graded, %s\n" % (
            exercise.id or exercise.name, len(programs),
            "all agree" if not bad else "%d disagree" % bad))
    return not bad
