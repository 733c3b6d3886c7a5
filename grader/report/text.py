"""The checklist a student reads: what passed, and for each failure what was expected, what
happened and the fix.  Colour only when asked (a terminal without NO_COLOR)."""
from __future__ import annotations

from typing import List, Optional

from grader.judging.results import CheckResult, Report, Status

_MARK = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.SKIPPED: "SKIP"}
_COLOUR = {Status.PASSED: "\033[32m", Status.FAILED: "\033[31m", Status.SKIPPED: "\033[33m"}
_RESET = "\033[0m"
_OUTPUT_LINES_SHOWN = 20


def _points(value: float) -> str:
    return ("%g" % value)


def _indent(label: str, text: str) -> List[str]:
    pad = " " * (len(label))
    lines = str(text).splitlines() or [""]
    return ["      " + label + lines[0]] + ["      " + pad + line for line in lines[1:]]


def _check_lines(check: CheckResult, color: bool, previous: Optional[CheckResult] = None) -> List[str]:
    mark = _MARK[check.status]
    if color:
        mark = _COLOUR[check.status] + mark + _RESET
    head = "  %s  %-26s %s  (%s/%s)" % (mark, check.id, check.description, _points(check.points),
                                       _points(check.max_points))
    out = [head]
    if check.status is Status.FAILED:
        out += _indent("expected: ", check.expected or "")
        out += _indent("happened: ", check.actual or "")
        if check.hint:
            out += _indent("hint:     ", check.hint)
    elif check.status is Status.SKIPPED and not (previous is not None and previous.reason == check.reason):
        out += _indent("skipped:  ", check.reason or "")  # said once for a run of the same reason
    for note in check.notes:
        out += _indent("note:     ", note)
    return out


def render_text(report: Report, *, color: bool = False, verbose: bool = False) -> str:
    role = report.role
    counterpart = "reference client" if role == "server" else "reference server"
    lab = " of %s" % report.exercise if report.exercise else ""
    out = ["Grading %s as the %s%s (against the %s)" % (report.file, role, lab, counterpart), ""]
    previous = None
    for check in report.checks:
        out += _check_lines(check, color, previous)
        previous = check
    out.append("")
    score = "Score: %s/%s" % (_points(report.score), _points(report.max_score))
    out.append(score + ("  - all checks passed!" if report.full_marks else ""))
    for note in report.notes:
        out.append("Note: " + note)
    out += _robustness_lines(report)
    traceback = student_traceback(report)
    if traceback:
        out += ["", "Your program's error output:"] + ["  " + line for line in traceback]
    if verbose:
        if report.requested_address:
            action = "bind" if role == "server" else "connect"
            out += ["", "Your program asked to %s %s; during grading every address reaches the %s."
                    % (action, report.requested_address, counterpart)]
        out += ["", "Timeline (seconds since your program started):"]
        for entry in report.timeline:
            out.append("  %7.3f  %-17s %s" % (entry.t, entry.source, entry.text))
        out += ["", "Your program's output:"]
        shown = report.stdout.splitlines()
        out += ["  | " + line for line in shown[:200]] or ["  (nothing)"]
        if len(shown) > 200:
            out.append("  | ... %d more lines" % (len(shown) - 200))
    return "\n".join(out) + "\n"


def _robustness_lines(report: Report) -> List[str]:
    """The --stress section: each condition, and on failure the TCP lesson."""
    if not report.robustness:
        return []
    out = ["", "Robustness (--stress: less kind but legal counterparts; the score above is unchanged):"]
    for r in report.robustness:
        if r.status == "not applicable":
            out.append("  [n/a]      %s: %s" % (r.condition, r.reason))
            continue
        label = {"survived": "survived", "missed": "missed  "}.get(r.status, "FAILED  ")
        out.append("  [%s] %s: %s" % (label, r.condition, r.description))
        if r.status != "survived":
            if r.failed_checks:
                broke = ", ".join(r.failed_checks[:3])
                more = len(r.failed_checks) - 3
                out += _indent("             broke:  ", broke + (" and %d more" % more if more > 0 else ""))
            if r.reason and r.status == "failed":
                out += _indent("             what:   ", r.reason)
            if r.lesson:
                out += _indent("             lesson: ", r.lesson)
    return out


def student_traceback(report: Report) -> List[str]:
    """The tail of the program's own error output (its traceback), when it failed to run."""
    runs = next((c for c in report.checks if c.id.endswith(".runs")), None)
    if runs is None or runs.passed or not report.stderr.strip():
        return []
    return report.stderr.strip().splitlines()[-_OUTPUT_LINES_SHOWN:]


def render_text_reports(reports: List[Report], *, color: bool = False, verbose: bool = False) -> str:
    return "\n".join(render_text(r, color=color, verbose=verbose) for r in reports)
