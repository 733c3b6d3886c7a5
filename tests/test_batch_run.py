"""The batch command's behaviour, with a stand-in grading function (no programs are run here;
test_batch_e2e.py runs real student programs)."""
import csv
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from grader.batch import pool as pool_module
from grader.batch.pool import Task, grade_all
from grader.batch.run import BAD_INPUT, FINISHED, INTERRUPTED, SOME_ERRORS, BatchOptions, run_batch
from test_batch_support import fake_grade, find_row, write


class CountingGrade:
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, role, path):
        with self.lock:
            self.calls.append((role, Path(path).parent.name))
        return fake_grade(role, path)


def _class(root: Path) -> Path:
    write(root / "ann" / "server.py")
    write(root / "ann" / "client.py")
    write(root / "bob" / "server.py", "# fail server.closes server.exits\n")
    write(root / "bob" / "client.py", "# input-error\n")
    write(root / "cy" / "client.py")  # no server
    write(root / "dee" / "server.py", "# grader-bug\n")
    write(root / "dee" / "client.py")
    return root


def _run(root, out, grade, **kw):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_batch(root, BatchOptions(out=out, **kw), stdout=stdout, stderr=stderr, grade=grade,
                     show_progress=False)
    return code, stdout.getvalue(), stderr.getvalue()


def _csv(out: Path):
    return list(csv.reader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig"))))


def test_every_student_gets_a_row_and_every_output_is_written(tmp_path):
    root, out = _class(tmp_path / "subs"), tmp_path / "out"
    code, stdout, stderr = _run(root, out, CountingGrade())
    assert code == SOME_ERRORS  # dee's grader failure and bob's unreadable client are errors
    assert stdout.splitlines()[0].startswith("Found 4 students (one folder per student, in ")
    table = _csv(out)
    assert [r[0] for r in table[1:]] == ["ann", "bob", "cy", "dee"]
    assert find_row(table, "ann", "total") == "20" and find_row(table, "ann", "status") == "graded"
    assert find_row(table, "bob", "server_score") == "9" and find_row(table, "bob", "status") == "error"
    assert "client: bob/client.py is empty" in find_row(table, "bob", "reason")  # not the full path
    assert find_row(table, "cy", "status") == "missing" and find_row(table, "cy", "total") == "9"
    assert find_row(table, "dee", "status") == "error"
    assert "grader bug" in find_row(table, "dee", "reason")
    assert "Traceback" not in stdout + stderr  # our traceback goes to the log, not the TA's face
    log = (out / "grader-errors.log").read_text()
    assert "RuntimeError: boom" in log and "attempt 2" in log  # retried once, then reported
    data = json.loads((out / "results.json").read_text())
    ann = data["students"][0]
    assert ann["roles"]["server"]["report"]["checks"][0]["id"] == "server.runs"
    assert ann["roles"]["server"]["report"]["file"] == "ann/server.py"  # relative, not a temp path
    for name in ("ann", "bob", "cy", "dee"):
        assert (out / "feedback" / f"{name}.txt").is_file()
    assert "No server program was found" in (out / "feedback" / "cy.txt").read_text()
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "Checks most often failed" in stdout


def test_rerun_regrades_only_changed_students_and_force_regrades_all(tmp_path):
    root, out = _class(tmp_path / "subs"), tmp_path / "out"
    _run(root, out, CountingGrade())
    before = (out / "grades.csv").read_text(encoding="utf-8-sig")

    again = CountingGrade()
    _, stdout, _ = _run(root, out, again)
    # Only dee's grader failure is tried again (bob's empty client is his, and unchanged).
    assert again.calls == [("server", "dee")] * 2  # (the grader retries a failure once)
    assert (out / "grades.csv").read_text(encoding="utf-8-sig") == before
    assert "3 students unchanged" in stdout

    write(root / "ann" / "client.py", "# fail client.closes\n")
    changed = CountingGrade()
    _run(root, out, changed)
    assert ("client", "ann") in changed.calls and ("server", "cy") not in changed.calls
    assert find_row(_csv(out), "ann", "total") == "19"

    forced = CountingGrade()
    _run(root, out, forced, force=True)
    assert len(forced.calls) == 8  # dee's failing server is tried twice


def test_serial_and_parallel_give_the_same_grades(tmp_path):
    root = _class(tmp_path / "subs")
    _run(root, tmp_path / "one", CountingGrade(), jobs=1)
    _run(root, tmp_path / "many", CountingGrade(), jobs=8)
    assert _csv(tmp_path / "one") == _csv(tmp_path / "many")


def test_empty_folder_and_bad_zip_are_reported_plainly(tmp_path):
    (tmp_path / "empty").mkdir()
    code, stdout, stderr = _run(tmp_path / "empty", tmp_path / "out", CountingGrade())
    assert code == BAD_INPUT and "No student submissions found" in stderr
    bad = write(tmp_path / "subs.zip", "not a zip")
    code, _, stderr = _run(bad, tmp_path / "out", CountingGrade())
    assert code == BAD_INPUT and "not a folder or a zip archive" in stderr
    assert "Traceback" not in stderr


def test_unmatched_and_extra_files_are_listed_not_dropped(tmp_path):
    root = tmp_path / "subs"
    write(root / "ann" / "server.py")
    write(root / "ann" / "client.py")
    write(root / "ann" / "helper.py", "print('hi')\n")
    write(root / "ann" / "report.pdf", "%PDF")
    write(root / "loose_file.py")
    _, stdout, _ = _run(root, tmp_path / "out", CountingGrade())
    assert "loose_file.py" in stdout
    extra = find_row(_csv(tmp_path / "out"), "ann", "ungraded_files")
    assert "ann/helper.py" in extra and "ann/report.pdf" in extra
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["unmatched_files"] == ["loose_file.py"]
    assert "helper.py" in (tmp_path / "out" / "feedback" / "ann.txt").read_text()


def test_a_student_s_own_zip_is_unpacked_and_graded_like_loose_files(tmp_path):
    root, out = tmp_path / "subs", tmp_path / "out"
    write(root / "ann" / "server.py")
    write(root / "ann" / "client.py")
    (root / "bob").mkdir()
    with zipfile.ZipFile(root / "bob" / "doe_bob_lab1.zip", "w") as zf:
        zf.writestr("lab1/server.py", "# pass\n")
        zf.writestr("lab1/client.py", "# fail client.closes\n")
        zf.writestr("__MACOSX/lab1/._server.py", "resource fork")  # clutter, not a file of his
        zf.writestr("../../escaped.py", "# pass\n")  # would land outside: never written
    write(root / "cy" / "work.zip", "this is not a zip")
    before = sorted(root.rglob("*"))
    code, stdout, _ = _run(root, out, CountingGrade())
    assert code == FINISHED
    table = _csv(out)
    assert find_row(table, "bob", "status") == "graded" and find_row(table, "bob", "total") == "19"
    assert find_row(table, "cy", "status") == "missing"
    assert "work.zip" in find_row(table, "cy", "ungraded_files")
    students = {s["key"]: s for s in json.loads((out / "results.json").read_text())["students"]}
    assert students["bob"]["roles"]["server"]["report"]["file"] == "bob/doe_bob_lab1.zip/lab1/server.py"
    assert any("doe_bob_lab1.zip was unpacked" in n for n in students["bob"]["notes"])
    assert any("work.zip could not be unpacked (File is not a zip file)" in n for n in students["cy"]["notes"])
    assert "work.zip could not be unpacked" in (out / "feedback" / "cy.txt").read_text()
    assert sorted(root.rglob("*")) == before  # nothing was written into the TA's folder
    assert not list(tmp_path.rglob("escaped.py"))
    again = CountingGrade()
    _run(root, out, again)
    assert again.calls == []  # unchanged: the unpacked files are recognised as the same


def test_ctrl_c_keeps_what_is_done_and_marks_the_rest(tmp_path):
    paths = [write(tmp_path / f"s{i}" / "server.py", "# sleep 0.05\n") for i in range(6)]
    tasks = [Task(f"s{i}", "server", p, f"s{i}/server.py") for i, p in enumerate(paths)]

    def interrupt_after_first(done):
        raise KeyboardInterrupt

    result = grade_all(tasks, fake_grade, jobs=1, on_done=interrupt_after_first)
    assert result.interrupted
    states = [result.outcomes[(t.key, "server")].state for t in tasks]
    assert states[0] == "graded" and states.count("error") >= 4
    assert "Ctrl-C" in result.outcomes[("s5", "server")].reason


def test_interrupted_batch_writes_outputs_and_reruns_the_rest(tmp_path, monkeypatch):
    root = tmp_path / "subs"
    for name in ("a", "b", "c"):  # each takes a moment, so Ctrl-C comes before the end
        write(root / name / "server.py", "# sleep 0.05\n")
        write(root / name / "client.py", "# sleep 0.05\n")
    real = pool_module.grade_all

    def stop_early(tasks, grade, *, jobs, on_done=None):
        def on(done):
            raise KeyboardInterrupt
        return real(tasks, grade, jobs=1, on_done=on)

    monkeypatch.setattr("grader.batch.run.grade_all", stop_early)
    code, stdout, _ = _run(root, tmp_path / "out", CountingGrade())
    assert code == INTERRUPTED and "Stopped by Ctrl-C" in stdout
    assert len(_csv(tmp_path / "out")) == 4  # every student has a row, done or not
    first = json.loads((tmp_path / "out" / "results.json").read_text())
    done = sum(s["roles"][r]["state"] == "graded" for s in first["students"] for r in ("server", "client"))
    assert 1 <= done < 6
    monkeypatch.setattr("grader.batch.run.grade_all", real)
    rest = CountingGrade()
    code, _, _ = _run(root, tmp_path / "out", rest)
    assert code == FINISHED and len(rest.calls) == 6 - done  # finished programs are kept
    assert all(r[-3] != "error" for r in _csv(tmp_path / "out")[1:] if len(r) > 3)


def test_names_with_spaces_non_ascii_and_clashes_get_distinct_feedback_files(tmp_path):
    root = tmp_path / "subs"
    for name in ("Zoë Ångström", "li lei", "li_lei", "李雷"):
        write(root / name / "server.py")
    _run(root, tmp_path / "out", CountingGrade())
    names = sorted(p.name for p in (tmp_path / "out" / "feedback").iterdir())
    assert names == sorted(["Zoë_Ångström.txt", "li_lei.txt", "li_lei-2.txt", "李雷.txt"])


def test_default_concurrency_is_well_above_the_core_count():
    assert pool_module.default_jobs() >= 4 * min(2, __import__("os").cpu_count() or 1)


def test_progress_line_on_a_terminal_only():
    from grader.batch.pool import Progress

    shown = io.StringIO()
    progress = Progress(40, shown, enabled=True)
    assert progress.line(10, now=progress.start + 30) == \
        "grading: 10/40 programs, 0:30 elapsed, about 1:30 left"
    progress.update(40)
    progress.finish()
    assert shown.getvalue().startswith("\r\x1b[K" + "grading: 40/40 programs")
    assert shown.getvalue().endswith("\r\x1b[K")  # the line is cleared before the summary
    quiet = io.StringIO()
    silent = Progress(40, quiet, enabled=False)
    silent.update(5)
    silent.finish()
    assert quiet.getvalue() == ""


def test_progress_shown_when_stderr_is_a_terminal(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    root = _class(tmp_path / "subs")
    stderr = Terminal()
    run_batch(root, BatchOptions(out=tmp_path / "out"), stdout=io.StringIO(), stderr=stderr,
              grade=CountingGrade())
    assert "grading: 7/7 programs" in stderr.getvalue()


def test_a_transient_grader_failure_is_retried_once(tmp_path):
    root = tmp_path / "subs"
    write(root / "ann" / "server.py")
    write(root / "ann" / "client.py")
    failed = []

    def flaky(role, path):
        if role == "client" and not failed:
            failed.append(path)
            raise SystemError("AST constructor recursion depth mismatch")  # seen under load
        return fake_grade(role, path)

    code, _, _ = _run(root, tmp_path / "out", flaky)
    assert code == FINISHED and find_row(_csv(tmp_path / "out"), "ann", "total") == "20"
    assert "SystemError" in (tmp_path / "out" / "grader-errors.log").read_text()  # still reported


def test_a_changed_grader_regrades_everyone_and_says_so(tmp_path, monkeypatch):
    root, out = _class(tmp_path / "subs"), tmp_path / "out"
    _run(root, out, CountingGrade())
    monkeypatch.setattr("grader.batch.fingerprint.grader_fingerprint", lambda: "a newer grader")
    monkeypatch.setattr("grader.batch.run.grader_fingerprint", lambda: "a newer grader")
    again = CountingGrade()
    _, stdout, _ = _run(root, out, again)
    assert len(again.calls) == 8 and "The grader changed since the last run" in stdout


def test_options_reach_the_single_program_grader(tmp_path, monkeypatch):
    """Same checks, limits and policies as the single-program grader: the options pass through."""
    seen = []

    def grade_file(role, path, options, started=()):
        seen.append(options)
        return fake_grade(role, path)

    monkeypatch.setattr("grader.grading.grade_file", grade_file)
    monkeypatch.setattr("grader.batch.run.LivePrograms.start", lambda self, path, sandbox, n: [])
    write(tmp_path / "subs" / "ann" / "server.py")
    run_batch(tmp_path / "subs", BatchOptions(out=tmp_path / "out", timeout=2.5, strict=True,
                                              sandbox=True),
              stdout=io.StringIO(), stderr=io.StringIO(), show_progress=False)
    assert [(o.timeout, o.strict, o.sandbox) for o in seen] == [(2.5, True, True)]


def test_outputs_that_cannot_be_written_give_advice_not_a_traceback(tmp_path, monkeypatch):
    root = _class(tmp_path / "subs")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("grader.batch.run.write_outputs", disk_full)
    code, _, stderr = _run(root, tmp_path / "out", CountingGrade())
    assert code == 3 and "No space left on device" in stderr and "--out" in stderr


def test_an_output_folder_that_cannot_be_made_is_a_plain_message(tmp_path):
    root = _class(tmp_path / "subs")
    blocker = write(tmp_path / "out", "a file where the folder should be")
    code, _, stderr = _run(root, blocker / "results", CountingGrade())
    assert code == BAD_INPUT and "Cannot create the output folder" in stderr


def test_an_empty_zip_is_named_in_the_message_not_its_temp_folder(tmp_path):
    import zipfile

    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("__MACOSX/._export", "only clutter")
    code, _, stderr = _run(archive, tmp_path / "out", CountingGrade())
    assert code == BAD_INPUT
    assert f"No student submissions found in {archive}" in stderr and "grader-batch-" not in stderr


def test_stopped_before_any_grading_exits_as_ctrl_c_does_and_leaves_no_folder(tmp_path, monkeypatch,
                                                                              capsys):
    from grader.__main__ import main

    root = _class(tmp_path / "subs")
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # unpacked into a temporary folder first
        for path in root.rglob("*.py"):
            zf.write(path, path.relative_to(root).as_posix())
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C or SIGTERM while the class is being read

    monkeypatch.setattr("grader.batch.run.discover", stopped)
    assert main(["batch", str(archive), "--out", str(tmp_path / "out"), "--no-sandbox"]) == INTERRUPTED
    assert "before any program was graded; nothing was written" in capsys.readouterr().err
    assert list(temp.iterdir()) == []


def test_a_stopped_batch_kills_the_programs_it_abandons_and_starts_no_more(monkeypatch):
    """The abandoned gradings' programs are killed at once, not left to their time limits."""
    from grader.batch.run import LivePrograms

    class FakeRun:
        def __init__(self):
            self.killed = self.discarded = False
            self.process = self

        def kill(self):
            self.killed = True

        def discard(self):
            self.discarded = True

    monkeypatch.setattr("grader.running.launch.start_program", lambda path, sandbox: FakeRun())
    live = LivePrograms()
    finished, running = live.start(Path("a.py"), False, 1), live.start(Path("b.py"), False, 2)
    live.done(finished)
    live.stop_all()
    assert [r.killed for r in finished + running] == [False, True, True]
    with pytest.raises(BaseException) as stopped:
        live.start(Path("c.py"), False, 1)
    assert not isinstance(stopped.value, Exception)  # never counted as a grader failure
