"""``feedback/<student>.txt``: what the student would see from the single-program grader.

Both roles, in the single-program grader's own words (``render_text``), preceded by the
student's total and followed by anything the batch itself has to say (a missing file, a file
that was not graded and why).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable, Dict, Iterable, Optional, Tuple

from grader.batch.outcome import ERROR, MISSING, StudentResult
from grader.exercises.default import ROLES
from grader.judging.results import Report

TextRenderer = Callable[[Report], str]

_MISSING_ADVICE = {
    "server": "No server program was found in this submission, so the server checks score 0. "
              "Submit a .py file with 'server' in its name.",
    "client": "No client program was found in this submission, so the client checks score 0. "
              "Submit a .py file with 'client' in its name.",
}


def missing_advice(role: str) -> str:
    return _MISSING_ADVICE.get(role, f"No {role} program was found in this submission.")


def _default_renderer() -> TextRenderer:
    from grader.report.text import render_text  # the engine's renderer, imported when needed

    return lambda report: render_text(report, color=False, verbose=False)


def feedback_text(result: StudentResult, render: Optional[TextRenderer] = None) -> str:
    render = render or _default_renderer()
    parts = [f"{result.student}: {result.score:g} / {result.max_score:g} points"
             + (" (submitted late)" if result.late else "")]
    for role in ROLES:
        outcome = result.roles[role]
        title = f"{role.capitalize()}" + (f" ({outcome.file})" if outcome.file else "")
        parts.append("=" * 70 + f"\n{title}\n" + "=" * 70)
        if outcome.report is not None:
            parts.append(render(outcome.report).rstrip("\n"))
        elif outcome.state == MISSING:
            parts.append(missing_advice(role))
        elif outcome.state == ERROR:
            parts.append(f"This program could not be graded: {outcome.reason}")
    if result.notes:
        parts.append("Notes:\n" + "\n".join(f"- {n}" for n in result.notes))
    return "\n\n".join(parts) + "\n"


def file_names(students: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """A distinct, portable file name (without .txt) per (key, student name), named after the
    student where possible; namesakes get -2, -3."""
    names: Dict[str, str] = {}
    used = set()
    for key, student in students:
        base = safe_file_name(student or key)
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name.lower())
        names[key] = name
    return names


def safe_file_name(text: str) -> str:
    """Letters (any script), digits, '-', '_' and '.'; spaces become '_'; never empty or hidden."""
    text = unicodedata.normalize("NFC", text)
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text.replace(" ", "_"))
    cleaned = re.sub(r"_+", "_", cleaned).strip("._") or "student"
    return cleaned[:100]
