"""``python -m grader gradescope run``: grade the one submission Gradescope hands us.

Gradescope puts the student's files in ``<root>/submission`` and reads
``<root>/results/results.json``; ``root`` is ``/autograder`` there and a temp folder in tests.
Whatever happens, a ``results.json`` is written: a submission the grader cannot handle still
gets a result that says why, never a silent "autograder failed".

Gradescope runs this as root.  This process only supervises: a forked child grades, with the
student's programs running as the unprivileged user ``setup.sh`` made (or as ``nobody`` in the
sandbox, where the container allows namespaces), and sends its document back on a pipe.  Then
every process of that user and every process left under us is stopped, and only then is
``results.json`` written, by root, into a folder only root can write (``contain.py``).  A
grading child that was killed or sent nothing gives an error result, never the student's file.
"""
from __future__ import annotations

import io
import json
import os
import select
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Dict, List, Optional, TextIO, Tuple, Union

from grader.batch.discover import is_clutter
from grader.batch.outcome import MISSING, RoleOutcome, role_max_score
from grader.batch.pool import GradeFunction, Task, grade_all
from grader.batch.roles import assign_roles
from grader.exercises.default import ROLES, Exercise
from grader.integrations.gradescope import contain
from grader.integrations.gradescope.results import error_results, gradescope_results, staff_report
from grader.integrations.gradescope.visibility import CONFIG_NAME, Settings, load, stored_exercise
from grader.report.safe_text import writable

DEFAULT_ROOT = Path("/autograder")
STUDENT_USER = "grader-student"  # made by setup.sh (build.py)
STUDENT_VARIABLE = "GRADER_STUDENT_USER"  # another user name or uid, for tests
GRADING_TIME_LIMIT = 300.0  # seconds; a grading takes about 10 at most, Gradescope allows 600+
_MAX_DOCUMENT = 32 << 20

_NOT_YOUR_FILES = ("This is a problem of the autograder, not of your files: your instructor has "
                   "been told (see the autograder's output); you do not need to submit again.")
_GRADER_BUG = ("The autograder could not grade this submission because of a problem in the "
               "autograder itself, not in your files. Your instructor has been told (see the "
               "autograder's output); you do not need to submit again.")
_INTERRUPTED = ("Grading was stopped before it finished, so no points were given. If your program "
                "sends signals to other processes (os.kill, os.killpg, signal), remove that and "
                "submit again; otherwise tell your instructor.")


def _files(folder: Path) -> Tuple[List[Path], List[str]]:
    """The submission's regular files; links are not followed (a link could point at the
    grader's own files), only noted."""
    found, notes = [], []
    for base, dirs, names in os.walk(folder):
        for name in sorted(dirs + names):
            path = Path(base) / name
            rel = path.relative_to(folder)
            if any(is_clutter(Path(p)) for p in rel.parts):
                continue
            if path.is_symlink():
                notes.append(f"{rel.as_posix()} is a link, not a file: it was not graded.")
            elif name in names and path.is_file():
                found.append(path)
        dirs.sort()
    return sorted(found), notes


def _engine(sandbox: Optional[bool], exercise: Exercise) -> GradeFunction:
    from grader.grading import GradeOptions, grade_file

    if sandbox is None:
        sandbox = contain.IS_LINUX and _sandbox_available()
    options = GradeOptions(sandbox=sandbox)
    return lambda role, path: grade_file(role, path, options, exercise=exercise)


def _sandbox_available() -> bool:
    from grader.running import sandbox

    return sandbox.available()[0]


def _renderer():
    from grader.report.text import render_text

    return lambda report: render_text(report, color=False, verbose=False)


def run_in_gradescope(root: Path = DEFAULT_ROOT, *, grade: Optional[GradeFunction] = None,
                      render=None, log: TextIO = sys.stdout, student: Union[str, int, None] = None,
                      sandbox: Optional[bool] = None,
                      time_limit: float = GRADING_TIME_LIMIT) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json``; 0 when it was written,
    2 when there is no submission folder (not inside Gradescope).

    ``student``: the user the programs run as when we are root (a name or a uid; default
    ``$GRADER_STUDENT_USER`` or ``grader-student``); ``sandbox``: None means where available.
    Call it from a process that has not graded anything yet: the grading happens in a fork.
    """
    root = Path(root)
    if not (root / "submission").is_dir():
        log.write(f"grader: there is no submission folder in {root}: this command is what Gradescope "
                  "runs for each submission; to try it locally, give --root a folder holding "
                  "submission/ with the student's files.\n")
        return 2
    start = time.monotonic()
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    results = root / "results"
    contain.lock_down(results, as_root)
    identity, problem = _student_identity(student) if as_root else (None, "")
    settings = Settings()
    if not problem:
        try:  # the visibility chosen at build time, stored beside run_autograder
            settings = load(root / "source" / CONFIG_NAME)
        except ValueError as error:
            problem = f"{error}; build the zip again with `python -m grader gradescope build`."
    if problem:
        log.write(f"grader: {problem}\n")
        document = error_results("The autograder is not set up correctly, so your files were not "
                                 "graded. " + _NOT_YOUR_FILES)
    else:
        document = _supervise(root, grade, render, log, identity, sandbox, time_limit, start,
                              settings)
    data = writable(json.dumps(document, indent=1, ensure_ascii=False)).encode("utf-8")
    target = contain.write_atomically(results, data)
    log.write(f"wrote {target}: score {document.get('score')}\n")
    return 0


def _student_identity(student: Union[str, int, None]) -> Tuple[Optional[contain.Identity], str]:
    """(uid, gid) of the user the programs run as, or a reason for the instructor."""
    name = student if student is not None else os.environ.get(STUDENT_VARIABLE) or STUDENT_USER
    if isinstance(name, int) or str(name).isdigit():
        uid = gid = int(name)
    else:
        import pwd

        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None, (f"the user {name!r} that students' programs run as does not exist; "
                          "setup.sh makes it: upload the autograder.zip of `python -m grader "
                          "gradescope build` again. Programs never run as root.")
        uid, gid = entry.pw_uid, entry.pw_gid
    if uid == 0 or gid == 0:
        return None, f"the user {name!r} for students' programs has root's uid or gid; refusing."
    return (uid, gid), ""


def _supervise(root: Path, grade, render, log: TextIO, identity: Optional[contain.Identity],
               sandbox: Optional[bool], time_limit: float, start: float,
               settings: Settings) -> Dict:
    if not hasattr(os, "fork"):  # not POSIX (never Gradescope): nothing to keep apart
        return _grade_document(root, grade, render, log, sandbox, start, settings)
    reaper = contain.Reaper()
    try:
        reading, writing = os.pipe()
        for stream in (log, sys.stdout, sys.stderr):
            stream.flush()  # or the child writes our buffered text again
        child = os.fork()
        if child == 0:  # pragma: no cover - the grading child; reports back and never returns
            _grading_child(root, grade, render, identity, sandbox, start, reading, writing,
                           settings)
        os.close(writing)
        payload, status = _collect(child, reading, time_limit)
        stopped, left = contain.stop_everything(identity, reaper)
    finally:
        reaper.release()
    document, child_log = _read_payload(payload)
    log.write(child_log)
    if stopped:
        log.write(f"grader: stopped {stopped} process(es) still running after grading\n")
    if left:
        log.write(f"grader: {left} process(es) could not be stopped\n")
    if document is None:
        log.write(f"grader: the grading process ended without a result ({_describe(status)})\n")
        return error_results(_INTERRUPTED)
    return document


def _grading_child(root, grade, render, identity, sandbox, start, reading, writing,
                   settings) -> None:
    status = 1
    try:
        os.close(reading)
        if identity is not None:
            from grader.running import launch

            launch.RUN_AS = identity
        buffer = io.StringIO()
        document = _grade_document(root, grade, render, buffer, sandbox, start, settings)
        payload = json.dumps({"document": document, "log": buffer.getvalue()}, ensure_ascii=True)
        data = memoryview(payload.encode("ascii"))
        while data:
            data = data[os.write(writing, data):]
        status = 0
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _collect(child: int, fd: int, time_limit: float) -> Tuple[bytes, Optional[int]]:
    """What the grading child sent, and its wait status (None: it had to be killed)."""
    chunks: List[bytes] = []
    size = 0
    status: Optional[int] = None
    deadline = time.monotonic() + time_limit
    os.set_blocking(fd, False)
    try:
        while size <= _MAX_DOCUMENT and time.monotonic() < deadline:
            if status is None:
                done, wait_status = os.waitpid(child, os.WNOHANG)
                if done:
                    status = wait_status
            ready = select.select([fd], [], [], 0.05)[0]
            if ready:
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not data:
                    break  # every writer gone
                chunks.append(data)
                size += len(data)
            elif status is not None:
                break  # the child ended and nothing more came (a writer it left may linger)
    finally:
        os.close(fd)
    if status is None:  # it closed the pipe and is ending (a moment), or it ran out of time
        deadline = min(deadline, time.monotonic() + 2.0)
        while status is None and time.monotonic() < deadline:
            done, wait_status = os.waitpid(child, os.WNOHANG)
            status = wait_status if done else None
            time.sleep(0.01)
        if status is None:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
    return b"".join(chunks), status


def _read_payload(payload: bytes) -> Tuple[Optional[Dict], str]:
    try:
        message = json.loads(payload.decode("ascii"))
        document, child_log = message["document"], message["log"]
    except (ValueError, KeyError, TypeError):
        return None, ""
    if not isinstance(document, dict) or not isinstance(document.get("tests"), list):
        return None, ""
    return document, child_log if isinstance(child_log, str) else ""


def _describe(status: Optional[int]) -> str:
    if status is None:
        return "it was stopped after the time limit"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _grade_document(root: Path, grade, render, log: TextIO, sandbox: Optional[bool],
                    start: float, settings: Settings) -> Dict:
    try:
        exercise = stored_exercise(settings, root / "source")  # load() has read it once already
        return _grade(root / "submission", grade or _engine(sandbox, exercise), render or _renderer(),
                      start, settings, log, exercise)
    except Exception:  # a grader bug: the instructor sees the traceback, the student a sentence
        log.write(traceback.format_exc())
        return error_results(_GRADER_BUG)


def _grade(submission: Path, grade: GradeFunction, render, start: float, settings: Settings,
           log: TextIO, exercise: Exercise) -> Dict:
    files, link_notes = _files(submission) if submission.is_dir() else ([], [])
    assignment = assign_roles(files)
    tasks = [Task("submission", role, path, path.relative_to(submission).as_posix())
             for role, path in assignment.files.items()]
    pool = grade_all(tasks, grade, jobs=len(ROLES))
    outcomes: Dict[str, RoleOutcome] = {}
    for role in ROLES:
        outcomes[role] = pool.outcomes.get(("submission", role)) or RoleOutcome(
            role, MISSING, reason=f"no {role} file found", role_max=role_max_score(role, exercise))
    notes = link_notes + list(assignment.notes)
    if pool.grader_errors:
        sys.stdout.write("\n".join(pool.grader_errors))  # Gradescope shows stdout to staff only
    log.write(staff_report(outcomes, render))  # stdout: instructors see every check in full
    return gradescope_results(outcomes, notes=notes, render=render, settings=settings,
                              exercise=exercise, execution_time=time.monotonic() - start)
