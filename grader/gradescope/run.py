"""``python -m grader gradescope run``: grade the one submission Gradescope hands us.

Gradescope puts the student's files in ``<root>/submission`` and reads
``<root>/results/results.json``; ``root`` is ``/autograder`` there and a temp folder in tests.
Whatever happens, a ``results.json`` is written: a submission the grader cannot handle still
gets a result that says why, never a silent "autograder failed".
"""
from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Dict, Optional, TextIO

from grader.batch.discover import is_clutter
from grader.batch.outcome import MISSING, RoleOutcome
from grader.batch.pool import GradeFunction, Task, grade_all
from grader.batch.roles import assign_roles
from grader.exercise import ROLES
from grader.gradescope.results import error_results, gradescope_results

DEFAULT_ROOT = Path("/autograder")


def _files(folder: Path):
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(is_clutter(Path(p)) for p in rel.parts):
            found.append(path)
    return found


def _engine() -> GradeFunction:
    from grader.grading import grade_file

    return grade_file


def _renderer():
    from grader.report.text import render_text

    return lambda report: render_text(report, color=False, verbose=False)


def run_in_gradescope(root: Path = DEFAULT_ROOT, *, grade: Optional[GradeFunction] = None,
                      render=None, log: TextIO = sys.stdout) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json``; 0 when it was written,
    2 when there is no submission folder (not inside Gradescope)."""
    root = Path(root)
    results_file = root / "results" / "results.json"
    if not (root / "submission").is_dir():
        log.write(f"grader: there is no submission folder in {root}: this command is what Gradescope "
                  "runs for each submission; to try it locally, give --root a folder holding "
                  "submission/ with the student's files.\n")
        return 2
    start = time.monotonic()
    try:
        document = _grade(root / "submission", grade or _engine(), render or _renderer(), start)
    except Exception:  # a grader bug: the instructor sees the traceback, the student a sentence
        log.write(traceback.format_exc())
        document = error_results("The autograder could not grade this submission because of a "
                                 "problem in the autograder itself, not in your files. Your "
                                 "instructor has been told (see the autograder's output); "
                                 "you do not need to submit again.")
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    log.write(f"wrote {results_file}: score {document.get('score')}\n")
    return 0


def _grade(submission: Path, grade: GradeFunction, render, start: float) -> Dict:
    files = _files(submission) if submission.is_dir() else []
    assignment = assign_roles(files)
    tasks = [Task("submission", role, path, path.relative_to(submission).as_posix())
             for role, path in assignment.files.items()]
    pool = grade_all(tasks, grade, jobs=len(ROLES))
    outcomes: Dict[str, RoleOutcome] = {}
    for role in ROLES:
        outcomes[role] = pool.outcomes.get(("submission", role)) or RoleOutcome(
            role, MISSING, reason=f"no {role} file found")
    notes = list(assignment.notes)
    if pool.grader_errors:
        sys.stdout.write("\n".join(pool.grader_errors))  # Gradescope shows stdout to staff only
    return gradescope_results(outcomes, notes=notes, render=render,
                              execution_time=time.monotonic() - start)

