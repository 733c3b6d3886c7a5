"""Helpers shared by the batch, HTML, JUnit and Gradescope tests (no tests here).

``make_report`` builds a synthetic ``Report`` from the exercise's real check specs, and
``fake_grade`` stands in for the engine: the student file's first line says what to do
(``# pass``, ``# fail server.closes client.closes``, ``# input-error``, ``# grader-bug``,
``# sleep 0.2``), so batch logic is tested without running programs.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Optional

from grader.exercises.default import HELLO_WORLD
from grader.running.inputs import InputError
from grader.judging.results import CheckResult, Report, Status, TimelineEntry


def make_report(role: str, failed: Iterable[str] = (), *, file: str = "x.py", stdout: str = "",
                stderr: str = "", skipped: Iterable[str] = ()) -> Report:
    failed, skipped = set(failed), set(skipped)
    checks = []
    for spec in HELLO_WORLD.specs(role):
        if spec.id in skipped:
            checks.append(CheckResult(spec.id, spec.description, Status.SKIPPED, 0, spec.points,
                                      hint="skipped because an earlier check failed"))
        elif spec.id in failed:
            checks.append(CheckResult(spec.id, spec.description, Status.FAILED, 0, spec.points,
                                      expected="Hello World!", actual="b'Hello World!'",
                                      hint="decode the bytes"))
        else:
            checks.append(CheckResult(spec.id, spec.description, Status.PASSED, spec.points,
                                      spec.points))
    timeline = (TimelineEntry(0.01, "program", "socket()"), TimelineEntry(0.02, "output", stdout[:40]))
    return Report(role=role, file=file, checks=tuple(checks), stdout=stdout, stderr=stderr,
                  duration=0.1, exit_status=0, timeline=timeline)


def fake_grade(role: str, path: Path) -> Report:
    first = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[:1]
    words = first[0].lstrip("# ").split() if first else []
    action = words[0] if words else "pass"
    if action == "input-error":
        raise InputError(f"{path} is empty: save your program and submit it again.")
    if action == "grader-bug":
        raise RuntimeError("boom")
    if action == "sleep":
        time.sleep(float(words[1]))
    failed = [w for w in words[1:] if w.startswith(role + ".")] if action == "fail" else []
    return make_report(role, failed, file=str(path), stdout=Path(path).read_text(errors="replace"))


def write(path: Path, text: str = "# pass\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def text_render(report: Report) -> str:
    """Stand-in for the engine's text renderer in feedback tests."""
    return "\n".join(f"[{c.status.value}] {c.id}" for c in report.checks)


def find_row(rows, student: str, column: Optional[str] = None):
    header = rows[0]
    for row in rows[1:]:
        if row[0] == student:
            return row if column is None else row[header.index(column)]
    raise KeyError(student)


def load_make_class():
    """tests/fixtures/batch/make_class.py, the generator of classes (shared with bench/)."""
    import importlib.util

    path = Path(__file__).resolve().parent / "fixtures" / "batch" / "make_class.py"
    spec = importlib.util.spec_from_file_location("make_class", path)
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules.setdefault("make_class", module)
    spec.loader.exec_module(module)
    return module
