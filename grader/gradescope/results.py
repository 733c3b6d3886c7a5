"""Gradescope's ``results.json`` format, from the grader's outcomes.

One Gradescope test per check, named by its description (what students read) with the stable
check id in brackets; ``output`` carries expected / actual / hint.  All text is declared
``text`` so nothing a student printed is rendered as HTML or Markdown on Gradescope's page.
Gradescope knows only "passed" and "failed" as a test status: a skipped check is failed with
its reason, as it earns no points.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from grader.batch.feedback import missing_advice
from grader.batch.outcome import RoleOutcome
from grader.exercise import HELLO_WORLD, ROLES
from grader.results import CheckResult, Report, Status


def _check_output(check: CheckResult) -> str:
    lines = []
    if check.status is Status.SKIPPED:
        lines.append("Skipped: " + (check.hint or check.actual or "a check it depends on failed."))
    else:
        for label, value in (("Expected", check.expected), ("Actual", check.actual),
                             ("Hint", check.hint)):
            if value:
                lines.append(f"{label}: {value}")
    lines.extend(check.notes)
    return "\n".join(lines)


def _test(role: str, number: int, check: CheckResult) -> Dict[str, Any]:
    test = {
        "name": f"{role.capitalize()}: {check.description} [{check.id}]",
        "number": f"{ROLES.index(role) + 1}.{number}",
        "score": check.points,
        "max_score": check.max_points,
        "status": "passed" if check.status is Status.PASSED else "failed",
        "visibility": "visible",
        "tags": [role],
    }
    output = _check_output(check)
    if output:
        test["output"] = output
    return test


def _not_graded_tests(role: str, reason: str) -> List[Dict[str, Any]]:
    return [{
        "name": f"{role.capitalize()}: {spec.description} [{spec.id}]",
        "number": f"{ROLES.index(role) + 1}.{i}",
        "score": 0.0, "max_score": spec.points, "status": "failed", "visibility": "visible",
        "tags": [role], "output": reason,
    } for i, spec in enumerate(HELLO_WORLD.specs(role), 1)]


def gradescope_results(outcomes: Mapping[str, RoleOutcome], *, notes: Sequence[str] = (),
                       render: Optional[Callable[[Report], str]] = None,
                       execution_time: float = 0.0) -> Dict[str, Any]:
    """The ``results.json`` document for one submission."""
    tests: List[Dict[str, Any]] = []
    summary: List[str] = []
    for role in ROLES:
        outcome = outcomes[role]
        if outcome.report is not None:
            tests.extend(_test(role, i, c) for i, c in enumerate(outcome.report.checks, 1))
            if render is not None:
                summary.append(render(outcome.report).rstrip("\n"))
            else:
                summary.append(f"{role.capitalize()} ({outcome.file}): "
                               f"{outcome.score:g}/{outcome.max_score:g}")
        else:
            reason = missing_advice(role) if outcome.state == "missing" else \
                f"The {role} program could not be graded: {outcome.reason}"
            tests.extend(_not_graded_tests(role, reason))
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
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def error_results(message: str) -> Dict[str, Any]:
    """Results when the autograder itself failed: no score is given, the message says why."""
    return {"score": 0.0, "output": message, "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": []}
