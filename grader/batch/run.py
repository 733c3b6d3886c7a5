"""``python -m grader batch``: grade a class and write every output.

The steps, each in its own module: open the folder or zip (``source``), find the students and
their roles (``discover``), reuse unchanged students' results (``fingerprint``), grade the rest
in parallel (``pool``), then write ``results.json``, ``grades.csv`` (``gradebook``),
``feedback/`` (``feedback``), ``report.html`` and optionally ``junit.xml`` (``grader.report``),
and print a summary (``summary``).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TextIO

import grader
from grader.running import tempdirs
from grader.batch import source
from grader.integrations.canvas import (CANVAS_IMPORT_CSV, canvas_rows, check_assignment_name,
                                        render_canvas_csv, summary_lines)
from grader.batch.discover import CANVAS, Discovery, Submission, discover, suspicious
from grader.batch.feedback import feedback_text, file_names
from grader.batch.fingerprint import exercise_fingerprint, grader_fingerprint, submission_fingerprint
from grader.batch.gradebook import render_csv
from grader.batch.outcome import ERROR, MISSING, RoleOutcome, StudentResult, role_max_score
from grader.batch.pool import GradeFunction, PoolResult, Progress, Task, default_jobs, grade_all
from grader.batch.summary import summary_text
from grader.exercises.default import HELLO_WORLD, ROLES, Exercise
from grader.running.inputs import InputError
from grader.report.safe_text import markup_text, writable
from grader.judging.results import Report

RESULTS_JSON = "results.json"

# Exit statuses of the batch command.
FINISHED = 0  # every student graded (their scores do not matter here)
SOME_ERRORS = 1  # finished, but some rows are `error`: a TA should look at them
BAD_INPUT = 2  # nothing could be graded: the message says why
CANNOT_WRITE = 3  # graded, but the outputs could not be written (a full disk, no permission)
INTERRUPTED = 130  # Ctrl-C or SIGTERM, the shell's convention; outputs hold what was finished


@dataclass(frozen=True)
class BatchOptions:
    out: Path = Path("grader-results")
    jobs: Optional[int] = None  # None: default_jobs()
    timeout: Optional[float] = None  # None: the exercise's limit
    strict: bool = False
    sandbox: bool = False  # run programs in the namespaces sandbox (grader.running.sandbox)
    force: bool = False  # regrade everyone, even unchanged students
    junit: bool = False  # also write junit.xml
    single_student: bool = False  # grade one student with many Python files (see suspicious())
    canvas_assignment: Optional[str] = None  # canvas-import.csv's column; None: the exercise's name
    exercise: Exercise = HELLO_WORLD  # what every student's programs are graded in (--exercise)


class _Stopped(BaseException):
    """A grading asked to start after the batch was stopped (not an ``Exception``: it is no
    grader failure, and the pool has already marked the task as not graded)."""


class LivePrograms:
    """The programs the batch has started and whose grading has not ended.

    When the batch is stopped (Ctrl-C, SIGTERM), the gradings still running are abandoned; each
    would stop its program only at its time limit.  ``stop_all`` kills them at once instead:
    their sessions then see the program end and clean up (every process it started, its
    folder) within moments, and no new one starts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: set = set()
        self._stopped = False
        # file to grade -> the student's folder its program runs in a copy of (_student_folder)
        self.folders: Dict[Path, Path] = {}

    def start(self, path: Path, sandbox: bool, count: int) -> list:
        from grader.running.launch import start_program

        # The student's folder when there is one; else start_program's own default.
        where = {"folder": self.folders[path]} if path in self.folders else {}
        runs = []
        try:
            for _ in range(count):
                if self._stopped:
                    raise _Stopped()
                runs.append(start_program(path, sandbox, **where))
                with self._lock:
                    self._runs.add(runs[-1])
                    if self._stopped:  # stop_all ran while it started
                        raise _Stopped()
        except BaseException:
            self.done(runs, discard=True)
            raise
        return runs

    def done(self, runs, discard: bool = False) -> None:
        with self._lock:
            self._runs.difference_update(runs)
        for run in runs if discard else ():
            run.discard()

    def stop_all(self) -> None:
        with self._lock:
            self._stopped = True
            runs = list(self._runs)
        for run in runs:
            try:
                run.process.kill()  # a sandbox's holder: its namespace goes with it
            except OSError:
                pass


def _engine_grade(options: BatchOptions, live: LivePrograms) -> GradeFunction:
    from grader.grading import GradeOptions, grade_file  # the single-program grader
    from grader.running.inputs import read_program
    from grader.running.launch import RUNS
    from grader.running.probe import compile_probe

    compile_probe()  # once for the whole class, not once per program

    grade_options = GradeOptions(timeout=options.timeout, strict=options.strict,
                                 sandbox=options.sandbox)
    # grade_file's own default is Hello World: given only when another one was chosen
    chosen = {} if options.exercise is HELLO_WORLD else {"exercise": options.exercise}

    def grade(role: str, path: Path) -> Report:
        read_program(path)  # a file that cannot be graded starts nothing
        runs = live.start(path, options.sandbox, RUNS[role])
        try:
            return grade_file(role, path, grade_options, started=runs, **chosen)
        finally:
            live.done(runs)

    return grade


def _student_folder(sub: Submission, path: Path) -> Optional[Path]:
    """The folder a file to grade was in, in the student's own submission: its program runs in
    a copy of it (launch.copy_folder, which follows no link).  None where the student has no
    folder of their own (a Canvas export's files, files at the top of the class folder): the
    program then runs beside its private copy only."""
    origin = sub.origins.get(path)
    if origin is None:
        return None
    where = origin[0]
    if where.is_dir() and not where.is_symlink():
        return where
    return path.parent  # unpacked from the student's own zip: the folder it was unpacked into


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _where(sub: Submission, path: Path, root: Path) -> str:
    """A student's file as the TA should see it: its path in the submissions, or, unpacked from
    the student's own zip, the zip's path and its path in there."""
    if path in sub.origins:
        archive, inside = sub.origins[path]
        return f"{_relative(archive, root)}/{inside}"
    return _relative(path, root)


def _load_previous(out: Path) -> Dict[str, Dict[str, Any]]:
    """The previous run's students by key; empty when there is none or it cannot be read."""
    document = _previous_document(out)
    students = document.get("students", [])
    return {s["key"]: s for s in students if isinstance(s, dict) and "key" in s} \
        if isinstance(students, list) else {}


def _previous_document(out: Path) -> Dict[str, Any]:
    try:
        document = json.loads((out / RESULTS_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _previous_exercise(out: Path) -> Optional[str]:
    """The id of the exercise the previous run graded (Hello World before runs named it)."""
    named = _previous_document(out).get("exercise")
    return str(named.get("name")) if isinstance(named, dict) else HELLO_WORLD.id


def _grading_options(options: BatchOptions) -> Dict[str, Any]:
    """The options a grade depends on (a change in any of them regrades everyone)."""
    return {"timeout": options.timeout, "strict": options.strict, "sandbox": options.sandbox}


def _fingerprint(sub: Submission, options: BatchOptions) -> str:
    # The exercise too: a re-run in another exercise (or after it was edited) regrades everyone.
    depends_on = dict(_grading_options(options), exercise=exercise_fingerprint(options.exercise))
    try:
        return submission_fingerprint(sub.files, depends_on)
    except OSError:
        return ""  # unreadable now: grade it, which reports the problem


def _reusable(previous: Optional[Dict[str, Any]], fingerprint: str) -> Dict[str, RoleOutcome]:
    """The previous run's outcomes that still hold: same fingerprint, and not an error."""
    if not previous or not fingerprint or previous.get("fingerprint") != fingerprint:
        return {}
    try:
        roles = {r: RoleOutcome.from_dict(r, previous["roles"][r]) for r in ROLES}
    except (KeyError, TypeError, ValueError):
        return {}
    # A grader failure or an interruption is tried again; an unreadable file is the student's.
    return {r: o for r, o in roles.items() if not (o.state == ERROR and o.retry)}


def run_batch(
    submissions: Path,
    options: BatchOptions = BatchOptions(),
    *,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
    grade: Optional[GradeFunction] = None,
    show_progress: Optional[bool] = None,
) -> int:
    out = Path(options.out)
    try:
        if options.canvas_assignment is not None:
            check_assignment_name(options.canvas_assignment)  # said before any grading
        # scratch: where students' own zips are unpacked (never into the TA's folder)
        with source.opened(Path(submissions)) as root, \
                tempdirs.temporary("unpacked") as scratch:
            found = discover(root, skip=out, label=str(submissions), scratch=Path(scratch))
            doubt = None if options.single_student else suspicious(found)
            if doubt:
                raise InputError(doubt)
            stdout.write(_first_line(found, root))
            stdout.flush()
            return _grade_and_write(found, root, options, out, stdout, stderr, grade, show_progress)
    except InputError as exc:
        stderr.write(f"{exc}\n")
        return BAD_INPUT


def _first_line(found: Discovery, root: Path) -> str:
    """What was found, where, and what was left out: the TA checks it before trusting the rest."""
    count = len(found.submissions)
    line = (f"Found {count} student{'s' if count != 1 else ''} ({found.layout}, in "
            f"{found.where.rstrip('/')}/)")
    if found.ignored:
        # by its path in the class folder; one beside a wrapping folder, from the top
        names = [_relative(p, found.root) if found.root in p.parents else _relative(p, root)
                 for p in found.ignored]
        line += "; ignored: " + ", ".join(names[:5]) + (
            f" and {len(names) - 5} more" if len(names) > 5 else "")
    if found.unmatched:
        line += (f"; {len(found.unmatched)} file{'s' if len(found.unmatched) != 1 else ''} fit no "
                 "student (listed at the end)")
    # markup_text: a file name's escape codes must not reach the TA's terminal as such
    return markup_text(line) + "\n"


def _grade_and_write(found: Discovery, root: Path, options: BatchOptions, out: Path,
                     stdout: TextIO, stderr: TextIO, grade: Optional[GradeFunction],
                     show_progress: Optional[bool]) -> int:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the output folder {out} ({exc.strerror}): choose another "
                         "with --out.") from None
    previous = {} if options.force else _load_previous(out)
    old_grader = _previous_document(out).get("grader_fingerprint") if previous else None
    old_exercise = _previous_exercise(out) if previous else None
    fingerprints = {sub.key: _fingerprint(sub, options) for sub in found.submissions}
    reused: Dict[str, Dict[str, RoleOutcome]] = {}
    tasks: List[Task] = []
    live = LivePrograms()
    for sub in found.submissions:
        # results.json holds the key as written (writable): a name that is not UTF-8 is found too.
        kept = _reusable(previous.get(writable(sub.key)), fingerprints[sub.key])
        reused[sub.key] = kept
        for role, path in sub.files.items():
            if role not in kept:
                tasks.append(Task(sub.key, role, path, _where(sub, path, root)))
                folder = _student_folder(sub, path)
                if folder is not None:
                    live.folders[path] = folder

    if grade is None and tasks:
        grade = _engine_grade(options, live)
    jobs = options.jobs or default_jobs()
    if show_progress is None:
        show_progress = stderr.isatty()
    progress = Progress(len(tasks), stderr, enabled=show_progress)
    with sigterm_as_interrupt():
        pool = grade_all(tasks, grade, jobs=jobs, on_done=progress.update) if tasks else None
        with _no_interrupts():  # another Ctrl-C or SIGTERM must not cut the outputs short
            progress.finish()
            if pool and pool.interrupted:
                live.stop_all()  # the abandoned gradings end now, not at their time limits
            return _write_results(found, root, options, out, stdout, stderr, previous, old_grader,
                                  fingerprints, reused, pool, old_exercise)


def _write_results(found: Discovery, root: Path, options: BatchOptions, out: Path, stdout: TextIO,
                   stderr: TextIO, previous: Dict[str, Dict[str, Any]], old_grader: Optional[str],
                   fingerprints: Dict[str, str], reused: Dict[str, Dict[str, RoleOutcome]],
                   pool: Optional[PoolResult], old_exercise: Optional[str] = None) -> int:
    interrupted = bool(pool and pool.interrupted)
    results = []
    for sub in found.submissions:
        roles = {}
        for role in ROLES:
            if role in reused[sub.key]:
                roles[role] = reused[sub.key][role]
            elif role in sub.files:
                roles[role] = pool.outcomes[(sub.key, role)]
            else:
                roles[role] = RoleOutcome(role, MISSING, reason=f"no {role} file found")
            if roles[role].report is None:  # no report to say the role's points: the exercise does
                roles[role] = replace(roles[role], role_max=role_max_score(role, options.exercise))
        results.append(StudentResult(
            key=sub.key, student=sub.student, people=sub.people, roles=roles, late=sub.late,
            extra=tuple(_where(sub, p, root) for p in sub.extra), notes=sub.notes,
            fingerprint=fingerprints[sub.key],
            reused=bool(reused[sub.key]) and all(r in reused[sub.key] for r in sub.files),
        ))
    unmatched = [_relative(p, root) for p in found.unmatched]
    try:
        notes = write_outputs(out, results, found.layout, unmatched, options,
                              ignored=[_relative(p, root) for p in found.ignored],
                              previous=previous or _load_previous(out),
                              grader_errors=pool.grader_errors if pool else [])
    except OSError as exc:
        stderr.write(f"Could not write the results to {out} ({exc.strerror or exc}): free some space "
                     "or choose another folder with --out, then run the same command again.\n")
        return CANNOT_WRITE
    if old_exercise is not None and old_exercise != options.exercise.id:
        stdout.write(f"The last run graded the exercise {old_exercise!r}, this one "
                     f"{options.exercise.id!r}, so every student was graded again.\n")
    elif old_grader and old_grader != grader_fingerprint():
        stdout.write("The grader changed since the last run, so every student was graded again.\n")
    stdout.write(summary_text(results, unmatched, out, reused=sum(r.reused for r in results),
                              interrupted=interrupted, exercise=options.exercise))
    stdout.write("".join(line + "\n" for line in notes))
    if interrupted:
        return INTERRUPTED
    return SOME_ERRORS if any(r.status == ERROR for r in results) else FINISHED


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (what `timeout`, `kill` and a CI's cancel send) stops the grading as Ctrl-C does:
    what is done is kept and written, and the rest marked not graded."""
    with _handling({signal.SIGTERM: _raise_interrupt}):
        yield


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """Let the outputs be written whole even if Ctrl-C is pressed again (or SIGTERM comes)
    meanwhile."""
    with _handling({signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}):
        yield


@contextmanager
def _handling(handlers: Dict[int, Any]) -> Iterator[None]:
    """Signal handlers for the duration of a block; only the main thread can set them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {number: signal.signal(number, handler) for number, handler in handlers.items()}
    try:
        yield
    finally:
        for number, handler in old.items():
            signal.signal(number, handler)


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write through a temp file, so a reader never sees half a file.  Every output passes here,
    so whatever a student's names or output hold (lone surrogates), it can be written."""
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w", encoding=encoding, newline="") as handle:  # newline="": keep CSV's \r\n
        handle.write(writable(text))
    os.replace(temp, path)


def write_outputs(out: Path, results: Sequence[StudentResult], layout: str, unmatched: Sequence[str],
                  options: BatchOptions, *, previous: Dict[str, Dict[str, Any]],
                  grader_errors: Sequence[str] = (), ignored: Sequence[str] = (),
                  render_feedback: Optional[Callable[[Report], str]] = None) -> List[str]:
    """Write every output into ``out``; returns lines for the TA about what was written."""
    out.mkdir(parents=True, exist_ok=True)
    names = file_names((r.key, r.student) for r in results)

    feedback_dir = out / "feedback"
    feedback_dir.mkdir(exist_ok=True)
    for result in results:
        _write(feedback_dir / f"{names[result.key]}.txt", feedback_text(result, render_feedback))
    # Feedback files this command wrote before for students no longer in the class are removed,
    # so no stale feedback is handed out; other files in the folder are left alone.
    current = {f"{n}.txt" for n in names.values()}
    for old in previous.values():
        stale = old.get("feedback_file")
        if isinstance(stale, str) and stale not in current and "/" not in stale and "\\" not in stale:
            try:
                (feedback_dir / stale).unlink()
            except OSError:
                pass

    students = []
    for result in results:
        entry = result.to_dict()
        entry["feedback_file"] = f"{names[result.key]}.txt"
        students.append(entry)
    document = {
        "grader_version": grader.__version__,
        "grader_fingerprint": grader_fingerprint(),
        "layout": layout,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "options": _grading_options(options),
        "exercise": {"name": options.exercise.id, "title": options.exercise.name},
        "students": students,
        "unmatched_files": list(unmatched),
        "ignored_files": list(ignored),  # not programs (a handout, a README): not graded
    }
    _write(out / RESULTS_JSON, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    # utf-8-sig: spreadsheets then read non-ASCII names correctly.
    _write(out / "grades.csv", render_csv(results, options.exercise), encoding="utf-8-sig")
    notes = _write_canvas_import(out, results, layout, options)

    from grader.report.html import render_html  # imported late: the report package is the engine's

    _write(out / "report.html", render_html(results, layout=layout, unmatched=unmatched,
                                            feedback_files=names, exercise=options.exercise))
    if options.junit:
        from grader.report.junit import render_junit_batch

        _write(out / "junit.xml", render_junit_batch(results, options.exercise))
    log = out / "grader-errors.log"
    if grader_errors:
        _write(log, "Grader failures (bugs in the grader; please report them):\n\n"
               + "\n".join(grader_errors))
    elif log.exists():
        log.unlink()
    return notes


def _write_canvas_import(out: Path, results: Sequence[StudentResult], layout: str,
                         options: BatchOptions) -> List[str]:
    """canvas-import.csv, for a Canvas export only: only there is each student's Canvas user id
    known (from the file names), which is how Canvas's import finds the student.  Another
    layout removes the file an earlier run may have left, so it is never a stale class's."""
    path = out / CANVAS_IMPORT_CSV
    if layout != CANVAS:
        if path.exists():
            path.unlink()
        if options.canvas_assignment is None:
            return []
        return [f"{CANVAS_IMPORT_CSV} was not written: it needs a Canvas \"Download Submissions\" "
                f"export, whose file names hold each student's Canvas user id ({layout} found)."]
    table = canvas_rows(results, options.canvas_assignment or options.exercise.name)
    # utf-8-sig, as grades.csv: Canvas's header check still finds "Student", and a spreadsheet
    # reads non-ASCII names correctly.
    _write(path, render_canvas_csv(table.rows), encoding="utf-8-sig")
    return summary_lines(table, CANVAS_IMPORT_CSV)
