"""The few lines printed at the end of a batch: how the class did and where the outputs are."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import List, Sequence, Tuple

from grader.batch.outcome import ERROR, LATE, MISSING, StudentResult
from grader.exercises.default import HELLO_WORLD, ROLES, Exercise
from grader.report.safe_text import markup_text
from grader.judging.results import Status


def failed_checks(results: Sequence[StudentResult],
                  exercise: Exercise = HELLO_WORLD) -> List[Tuple[str, int, int]]:
    """(check id, students who failed it, students graded on it), most often failed first."""
    failed: Counter = Counter()
    graded: Counter = Counter()
    for result in results:
        for role in ROLES:
            report = result.roles[role].report
            if report is None:
                continue
            for check in report.checks:
                graded[check.id] += 1
                if check.status is not Status.PASSED:
                    failed[check.id] += 1
    order = [spec.id for role in ROLES for spec in exercise.specs(role)]
    rank = {cid: i for i, cid in enumerate(order)}
    return sorted(((cid, failed[cid], graded[cid]) for cid in graded if failed[cid]),
                  key=lambda t: (-t[1], rank.get(t[0], len(rank)), t[0]))


def summary_text(results: Sequence[StudentResult], unmatched: Sequence[str], out: Path,
                 *, reused: int, interrupted: bool, exercise: Exercise = HELLO_WORLD) -> str:
    n = len(results)
    lines = []
    if interrupted:
        lines.append("Stopped by Ctrl-C or SIGTERM: the results so far are saved; run the same "
                     "command again to grade the rest (finished students are not graded twice).")
    if n:
        mean = sum(r.score for r in results) / n
        top = max(r.max_score for r in results)
        full = sum(1 for r in results if r.max_score and r.score == r.max_score)
        lines.append(f"{n} students ({exercise.name}): mean {mean:.1f} / {top:g}, {full} with full marks.")
    counts = Counter(r.status for r in results)
    flagged = [f"{counts[s]} {s}" for s in (MISSING, ERROR, LATE) if counts[s]]
    if flagged:
        lines.append("Status: " + ", ".join(flagged) + " (see the status and reason columns).")
    if reused:
        lines.append(f"{reused} students unchanged since the last run: their results were reused "
                     "(--force regrades everyone).")
    worst = failed_checks(results, exercise)[:3]
    if worst:
        lines.append("Checks most often failed: " + ", ".join(
            f"{cid} ({failed}/{graded})" for cid, failed, graded in worst) + ".")
    if unmatched:
        # markup_text: a file name's escape codes must not reach the TA's terminal as such
        shown = ", ".join(markup_text(u) for u in unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
        lines.append(f"{len(unmatched)} files belong to no student and were not graded: {shown}.")
    lines.append(f"Results: {out}/ (grades.csv, report.html, results.json, feedback/)")
    return "\n".join(lines) + "\n"
