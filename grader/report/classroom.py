"""GitHub Classroom: the result a grading step hands to Classroom's reporter action.

Classroom's reporter (``classroom-resources/autograding-grading-reporter``) reads, for each id
in its ``runners`` input, the environment variable ``<ID>_RESULTS``: base64 of a JSON object
``{"version": 1, "status", "max_score", "tests": [{"name", "status", "score", "message", ...}]}``.
It posts ``Points <sum of every test's score>/<sum of every runner's max_score>`` to Classroom,
leaving out a runner whose ``max_score`` is 0 or missing, and fails the run when a runner's
status is ``fail`` or ``error``.  So each check is one test carrying its own points: a student
with 17 of 20 points gets 17, where Classroom's own command grader gives all or nothing.

The step passes the result on as its output ``result``: the line this renderer writes,
``result=<base64>``, is the GitHub Actions output-file syntax (``>> "$GITHUB_OUTPUT"``).
"""
from __future__ import annotations

import base64
import json
from typing import Any, Dict, List, Optional

from grader.exercises.default import HELLO_WORLD, Exercise
from grader.report.safe_text import writable
from grader.judging.results import CheckResult, Report, Status

VERSION = 1  # the version of the result format the reporter and Classroom's graders write


def _message(check: CheckResult) -> Optional[str]:
    """What the reporter prints under a check: the text report's lines for it."""
    if check.status is Status.FAILED:
        lines = ["expected: %s" % (check.expected or ""), "happened: %s" % (check.actual or "")]
        if check.hint:
            lines.append("hint: %s" % check.hint)
    elif check.status is Status.SKIPPED:
        lines = ["skipped: %s" % (check.reason or "a check it depends on failed")]
    else:
        lines = []
    lines += ["note: %s" % note for note in check.notes]
    return "\n".join(lines) or None


def _test(check: CheckResult, command: str, file: str) -> Dict[str, Any]:
    return {
        "name": "%s: %s" % (check.id, check.description),
        "status": "pass" if check.passed else "fail",  # the reporter knows pass, fail and error
        "score": _number(check.points),
        "max_score": _number(check.max_points),
        "message": _message(check),
        "test_code": command,  # shown by the reporter: how to run the same grading at home
        "filename": file,
        "line_no": 0,
    }


def _number(value: float) -> float:
    """17 rather than 17.0 in the JSON: the reporter prints the sum as it is."""
    return int(value) if float(value).is_integer() else value


def _command(role: str, file: str, exercise: str = "") -> str:
    """The command a student runs at home for the same grading (``exercise``: what was given to
    ``--exercise``, a name or a folder; "" for Hello World)."""
    return "python -m grader %s %s%s" % (role, file, " --exercise %s" % exercise if exercise else "")


def classroom_result(reports: List[Report], exercise: str = "") -> Dict[str, Any]:
    """One reporter result for the graded programs (one, from the command line), graded in the
    exercise given to ``--exercise`` (""; Hello World), which each test's command names."""
    tests = [_test(check, _command(r.role, r.file, exercise), r.file)
             for r in reports for check in r.checks]
    return {
        "version": VERSION,
        "status": "pass" if all(r.full_marks for r in reports) else "fail",
        "max_score": _number(sum(r.max_score for r in reports)),
        "tests": tests,
    }


def ungradable_result(role: str, file: str, reason: str, exercise: Exercise = HELLO_WORLD,
                      given: str = "") -> Dict[str, Any]:
    """A file that could not be graded (missing, empty, a folder, not Python): every check of
    the role in ``exercise`` scores 0 with the reason, and ``max_score`` stays the role's full
    points, so the student sees 0 of them rather than a runner Classroom leaves out.  ``given``:
    what was given to ``--exercise``, for the command."""
    specs = exercise.specs(role)
    return {
        "version": VERSION,
        "status": "error",
        "max_score": _number(sum(spec.points for spec in specs)),
        "tests": [{"name": "%s: %s" % (spec.id, spec.description), "status": "error", "score": 0,
                   "max_score": _number(spec.points), "message": "not graded: %s" % reason,
                   "test_code": _command(role, file, given), "filename": file, "line_no": 0}
                  for spec in specs],
    }


def output_line(result: Dict[str, Any]) -> str:
    """``result=<base64 of the JSON>``: one line of the step's output file.  Base64 keeps a
    student's text (newlines, quotes, anything) from breaking the file's line syntax."""
    # A student's lone surrogates become U+FFFD, as in every other output (safe_text).
    data = writable(json.dumps(result, ensure_ascii=False, separators=(",", ":"))).encode("utf-8")
    return "result=%s\n" % base64.b64encode(data).decode("ascii")


def render_classroom(reports: List[Report], *, color: bool = False, verbose: bool = False,
                     exercise: str = "") -> str:
    return output_line(classroom_result(reports, exercise))


def render_ungradable(role: str, file: str, reason: str, exercise: Exercise = HELLO_WORLD,
                      given: str = "") -> str:
    return output_line(ungradable_result(role, file, reason, exercise, given))
