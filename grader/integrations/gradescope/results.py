"""Gradescope's ``results.json`` format, from the grader's outcomes.

One Gradescope test per check, named by its description (what students read) with the stable
check id in brackets; ``output`` carries expected / actual / hint.  All text is declared
``text`` so nothing a student printed is rendered as HTML or Markdown on Gradescope's page.
Gradescope knows only "passed" and "failed" as a test status: a skipped check is failed with
its reason, as it earns no points.

Each test gets the visibility chosen at build time (``visibility.Settings``).  Nothing held back
leaks elsewhere: a test never names a check that is shown later than itself (a skip reason that
would is replaced as a whole), and when anything is held back the top-level ``output`` (shown
with the total) carries only what concerns the files, no per-check results; the full report then
goes to the instructor's stdout (``staff_report``).  Score-only keeps each test's name (the
check's description), score and pass/fail, and drops the expected / actual / hint / notes.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from grader.batch.feedback import missing_advice
from grader.batch.outcome import RoleOutcome
from grader.exercises.default import HELLO_WORLD, ROLES, Exercise
from grader.integrations.gradescope.visibility import Settings, check_ids
from grader.judging.results import CheckResult, Report, Status

_CHECK_ID = re.compile(r"\b(?:%s)\.[a-z_]+\b" % "|".join(map(re.escape, ROLES)))
_NOT_SHOWN_YET = "a check whose result is not shown yet"


def _guard(text: str, shown_with: str, settings: Settings, exercise: Exercise) -> str:
    """``text`` with every check it names that is shown later than ``shown_with`` replaced."""
    ids = check_ids(exercise)
    return _CHECK_ID.sub(lambda m: m.group(0) if m.group(0) not in ids or settings.shows(
        shown_with, m.group(0)) else _NOT_SHOWN_YET, text)


def _check_output(check: CheckResult, settings: Settings, exercise: Exercise) -> str:
    if settings.score_only:
        return ""
    shown_with = settings.of(check.id)
    lines = []
    if check.status is Status.SKIPPED:
        reason = check.reason or check.hint or check.actual or "a check it depends on failed."
        if _guard(reason, shown_with, settings, exercise) != reason:  # it would tell a held-back outcome
            reason = "it depends on a check whose result is not shown yet."
        lines.append("Skipped: " + reason)
    else:
        for label, value in (("Expected", check.expected), ("Actual", check.actual),
                             ("Hint", check.hint)):
            if value:
                lines.append(f"{label}: {value}")
    lines.extend(check.notes)
    return _guard("\n".join(lines), shown_with, settings, exercise)


def _name(role: str, description: str, check_id: str) -> str:
    return f"{role.capitalize()}: {description} [{check_id}]"


def _test(role: str, number: int, check: CheckResult, settings: Settings,
          exercise: Exercise) -> Dict[str, Any]:
    test = {
        "name": _name(role, check.description, check.id),
        "number": f"{ROLES.index(role) + 1}.{number}",
        "score": check.points,
        "max_score": check.max_points,
        "status": "passed" if check.status is Status.PASSED else "failed",
        "visibility": settings.of(check.id),
        "tags": [role],
    }
    output = _check_output(check, settings, exercise)
    if output:
        test["output"] = output
    return test


def _not_graded_tests(role: str, reason: str, settings: Settings,
                      exercise: Exercise) -> List[Dict[str, Any]]:
    tests = []
    for i, spec in enumerate(exercise.specs(role), 1):
        test = {"name": _name(role, spec.description, spec.id),
                "number": f"{ROLES.index(role) + 1}.{i}", "score": 0.0, "max_score": spec.points,
                "status": "failed", "visibility": settings.of(spec.id), "tags": [role]}
        if not settings.score_only:
            test["output"] = reason
        tests.append(test)
    return tests


def _not_graded_reason(role: str, outcome: RoleOutcome) -> str:
    return missing_advice(role) if outcome.state == "missing" else \
        f"The {role} program could not be graded: {outcome.reason}"


def gradescope_results(outcomes: Mapping[str, RoleOutcome], *, notes: Sequence[str] = (),
                       render: Optional[Callable[[Report], str]] = None,
                       execution_time: float = 0.0,
                       settings: Settings = Settings(),
                       exercise: Exercise = HELLO_WORLD) -> Dict[str, Any]:
    """The ``results.json`` document for one submission, graded in ``exercise``."""
    tests: List[Dict[str, Any]] = []
    summary: List[str] = [f"Exercise: {exercise.name}"]
    full = not settings.score_only and not settings.anything_held_back
    for role in ROLES:
        outcome = outcomes[role]
        if outcome.report is not None:
            checks = enumerate(outcome.report.checks, 1)
            tests.extend(_test(role, i, check, settings, exercise) for i, check in checks)
            if full and render is not None:
                summary.append(render(outcome.report).rstrip("\n"))
            elif full:
                summary.append(f"{role.capitalize()} ({outcome.file}): "
                               f"{outcome.score:g}/{outcome.max_score:g}")
            else:  # the total is Gradescope's to show or hold back, per check: not ours
                summary.append(f"{role.capitalize()}: graded {outcome.file}.")
        else:
            reason = _not_graded_reason(role, outcome)
            tests.extend(_not_graded_tests(role, reason, settings, exercise))
            summary.append(reason)
    summary.extend(notes)
    score = sum(t["score"] for t in tests)
    return {
        "score": score,
        "execution_time": round(execution_time, 2),
        "output": "\n\n".join(summary),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": settings.default,
        "stdout_visibility": "hidden",  # the instructor's: it holds the full report
        "tests": tests,
    }


def staff_report(outcomes: Mapping[str, RoleOutcome], render: Callable[[Report], str]) -> str:
    """The whole report of each program, for the autograder's stdout (instructors only)."""
    parts = []
    for role in ROLES:
        outcome = outcomes[role]
        parts.append(render(outcome.report).rstrip("\n") if outcome.report is not None
                     else _not_graded_reason(role, outcome))
    return "\n\n".join(parts) + "\n"


def error_results(message: str) -> Dict[str, Any]:
    """Results when the autograder itself failed: no score is given, the message says why."""
    return {"score": 0.0, "output": message, "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": []}
