"""``--sandbox``: the program in its own network, PID and mount namespaces (grader/running/sandbox.py).

Skipped, with the reason, where namespaces are not available.  The sandbox-only hostile
fixtures run here and nowhere else: unsandboxed they would really write, read and kill.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest

from conftest import ROOT, Fixture, descriptors_taken_past
from grader import grading
from grader.running import launch, processes, sandbox, sandbox_init, session, tempdirs
from grader.grading import GradeOptions
from test_containment import foreign_server, grade_contained, hostile, private_tmp  # noqa: F401 (fixtures)

AVAILABLE, REASON = sandbox.available()
needs_sandbox = pytest.mark.skipif(not AVAILABLE, reason="no sandbox here: %s" % REASON)


def grade_sandboxed(fixture):
    return grading.grade_file(fixture.role, fixture.path,
                              GradeOptions(timeout=fixture.timeout, sandbox=True))


def test_availability_is_a_clear_answer():
    assert isinstance(AVAILABLE, bool)
    assert AVAILABLE == (REASON == "")
    message = sandbox.unavailable_message("namespaces exist only on Linux")
    assert "not available" in message and "time limit" in message and "network" in message


@needs_sandbox
@pytest.mark.parametrize("role", ["server", "client"])
def test_the_reference_programs_get_full_marks_in_the_sandbox(role):
    path = ROOT / "reference" / ("%s.py" % role)
    report = grade_sandboxed(Fixture(role, path, {}, timeout=5.0))
    assert report.score == report.max_score, report.checks


@needs_sandbox
@pytest.mark.parametrize("name", ["endless_output", "forks_children", "setsid_daemon", "ignores_sigterm",
                                  "allocates_4gb", "invalid_utf8", "fake_events"])
def test_hostile_programs_are_contained_in_the_sandbox_too(name):
    grade_contained(hostile(name), grade_sandboxed)


@needs_sandbox
def test_writes_outside_its_directory_fail(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_TEST_OUTSIDE", str(tmp_path))
    monkeypatch.setenv("GRADER_TEST_HOME", os.path.expanduser("~"))
    probe = ROOT / "grader" / "running" / "probe" / "bootstrap.py"
    before = hashlib.sha256(probe.read_bytes()).hexdigest()
    report = grade_contained(hostile("writes_outside"), grade_sandboxed)
    assert "WROTE" not in report.stdout and report.stdout.count("blocked") == 6, report.stdout
    assert "wrote own.txt" in report.stdout  # its own directory is writable
    assert not (tmp_path / "escaped.txt").exists()
    assert not os.path.exists(os.path.expanduser("~/grader-escaped.txt"))
    assert hashlib.sha256(probe.read_bytes()).hexdigest() == before


@needs_sandbox
def test_another_submission_cannot_be_read(tmp_path, monkeypatch):
    other = tmp_path / "other_student" / "server.py"
    other.parent.mkdir()
    other.write_text("SECRET = 'the other student wrote this'\n")
    monkeypatch.setenv("GRADER_TEST_OTHER", str(other))
    monkeypatch.setenv("GRADER_TEST_GRADER", grading.__file__)
    report = grade_contained(hostile("reads_other_submission"), grade_sandboxed)
    assert "blocked %s" % other in report.stdout, report.stdout
    assert "READ" not in report.stdout and "other student" not in report.stdout


@needs_sandbox
def test_killing_its_parent_or_anyone_else_fails():
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                              stdin=subprocess.DEVNULL)
    try:
        with mock.patch.dict(os.environ, {"GRADER_TEST_VICTIM": str(victim.pid)}):
            report = grade_contained(hostile("kills_parent"), grade_sandboxed)
        assert victim.poll() is None, "a process outside the sandbox was killed"
        assert report.score == report.max_score  # the grading went on undisturbed
        assert "could not signal %d" % victim.pid in report.stdout, report.stdout
    finally:
        victim.kill()
        victim.wait()


@needs_sandbox
def test_only_loopback_is_there():
    report = grade_contained(hostile("lists_interfaces"), grade_sandboxed)
    assert "interfaces: lo\n" in report.stdout and "routes: 0\n" in report.stdout, report.stdout


@needs_sandbox
def test_unhooked_sockets_reach_nothing_outside(foreign_server):  # noqa: F811
    report = grade_sandboxed(hostile("unhooks_socket"))
    assert foreign_server == []  # the test's server is not in its network
    assert "ConnectionRefusedError" in report.stderr and report.score == 0


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.access("/usr/bin/python3", os.X_OK),
                    reason="needs root (to become another user), setpriv and /usr/bin/python3")
def test_the_sandbox_works_without_root_through_a_user_namespace():
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from grader.running import sandbox, session\n"
            "ok, why = sandbox.available()\n"
            "if not ok: print('unavailable', why); sys.exit(0)\n"
            "from grader.exercises.default import HELLO_WORLD\n"
            "t = session.run_session('server', Path(sys.argv[1]), HELLO_WORLD, b'Hello World!', 5, sandbox=True)\n"
            "print('received', t.peer.received.decode(), 'exit', t.exit_status)\n")
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", code,
         str(ROOT / "reference" / "server.py")],
        cwd="/", env=dict(os.environ, PYTHONPATH=str(ROOT), HOME="/nonexistent", TMPDIR="/tmp"),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if result.stdout.startswith("unavailable"):
        pytest.skip("no unprivileged user namespaces here: " + result.stdout)
    assert "received Hello World! exit 0" in result.stdout, result.stdout + result.stderr


@needs_sandbox
def test_the_init_answers_on_a_control_socket_numbered_past_select_limit(tmp_path):
    # The init's control socket keeps the number it has in the grader; select() cannot watch a
    # descriptor above 1023, and an init that used it died at its first wait.
    with descriptors_taken_past(1100):
        box = sandbox.Sandbox(str(tmp_path))
        assert box._init_end.fileno() > 1100
        process = box.start([sys.executable, "-I", "-S", "-c", "import time; time.sleep(30)"],
                            dict(os.environ), [])
        try:
            box.started()
            for _ in range(2):  # and it keeps answering
                with box.new_socket(socket.AF_INET) as sock:
                    sock.bind(("127.0.0.1", 0))
                    sock.listen(1)
        finally:
            process.kill()
            process.wait(timeout=10)
            process.stdout.close()
            process.stderr.close()
            box.close()


class _RecordingLibc:
    def __init__(self):
        self.calls = []

    def mount(self, source, target, fstype, flags, data=None):
        self.calls.append((source, target, flags))


def test_every_mount_under_a_bound_path_is_remounted_read_only(monkeypatch):
    # The init reads the mount table once; a second read is needed only below a source that
    # holds other mounts, and then each of them is remounted read-only, nosuid and nodev.
    host = ["/", "/usr", "/srv/data", "/srv/data/inner", "/proc"]
    reads = []

    def table():
        reads.append(1)
        return host + ["/new/usr", "/new/srv/data", "/new/srv/data/inner"]

    monkeypatch.setattr(sandbox_init, "_mount_points", table)
    monkeypatch.setattr(sandbox_init, "_locked_flags", lambda point: 0)
    init = sandbox_init
    read_only = init.MS_BIND | init.MS_REMOUNT | init.MS_NOSUID | init.MS_RDONLY | init.MS_NODEV

    libc = _RecordingLibc()
    sandbox_init._bind(libc, "/usr", "/new/usr", host)
    assert libc.calls == [("/usr", "/new/usr", init.MS_BIND | init.MS_REC),
                          (None, "/new/usr", read_only)]
    assert reads == []  # nothing below /usr: no second look

    libc = _RecordingLibc()
    sandbox_init._bind(libc, "/srv/data", "/new/srv/data", host)
    assert libc.calls[1:] == [(None, "/new/srv/data", read_only), (None, "/new/srv/data/inner", read_only)]
    assert reads == [1]


def _parent(pid):
    with open("/proc/%d/stat" % pid, "rb") as handle:
        stat = handle.read()
    return int(stat[stat.rindex(b")") + 2:].split()[1])


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read()
    except OSError:
        return True
    return stat[stat.rindex(b")") + 2:][:1] == b"Z"


@needs_sandbox
def test_sandboxed_programs_are_forked_by_one_warm_server():
    # A new interpreter for each program's init cost some 20 ms of CPU per program: the
    # sandbox's processes are forks of one fork server instead.
    runs = [launch.start_program(ROOT / "reference" / "server.py", sandbox=True) for _ in range(2)]
    try:
        server = sandbox._fork_server().process.pid
        assert [_parent(run.process.pid) for run in runs] == [server, server]
    finally:
        for run in runs:
            run.discard()
    assert all(_gone(run.process.pid) for run in runs)


@needs_sandbox
def test_a_grading_whose_fork_server_dies_is_an_error_of_ours_not_a_grade():
    fixture = Fixture("client", ROOT / "tests" / "fixtures" / "client" / "sleeps_forever.py", {},
                      timeout=30.0)
    outcome = []
    grading_thread = threading.Thread(target=lambda: outcome.append(_outcome(grade_sandboxed, fixture)))
    grading_thread.start()
    server = None
    for _ in range(500):  # until both of its runs have started (bounded: 10 s)
        server = sandbox._SERVER[0] if sandbox._SERVER else None
        if server is not None and len(server._holders) >= 2:
            break
        time.sleep(0.02)
    assert server is not None and len(server._holders) >= 2
    server.process.kill()
    grading_thread.join(20)
    assert not grading_thread.is_alive()
    assert isinstance(outcome[0], sandbox.SandboxError), outcome
    # The next grading gets a new fork server, and its grade.
    report = grade_sandboxed(Fixture("server", ROOT / "reference" / "server.py", {}, timeout=5.0))
    assert report.score == report.max_score, report.checks
    assert sandbox._fork_server() is not server


def _outcome(function, *args):
    try:
        return function(*args)
    except Exception as exc:
        return exc


@needs_sandbox
def test_the_sandbox_goes_when_the_grader_dies(tmp_path):
    code = ("import sys, time\n"
            "from pathlib import Path\n"
            "from grader.running import launch, sandbox\n"
            "run = launch.start_program(Path(sys.argv[1]), sandbox=True)\n"
            "run.sandbox.started()  # the program's process exists\n"
            "print(sandbox._fork_server().process.pid, run.process.pid, run.marker, flush=True)\n"
            "time.sleep(60)\n")
    grader_process = subprocess.Popen([sys.executable, "-c", code, str(ROOT / "reference" / "server.py")],
                                      cwd=str(ROOT), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                      env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        server, holder, marker = grader_process.stdout.readline().split()
        assert processes.marked_pids(marker.decode())  # the program is there...
    finally:
        grader_process.kill()
        grader_process.wait()
        grader_process.stdout.close()
    for _ in range(500):  # ...and everything goes with the grader (bounded: 10 s)
        if _gone(int(server)) and _gone(int(holder)) and not processes.marked_pids(marker.decode()):
            break
        time.sleep(0.02)
    assert _gone(int(server)) and _gone(int(holder))
    assert processes.marked_pids(marker.decode()) == []
    # Its temporary folders (in the machine's temporary directory, not this test's) stay until
    # a grader run sweeps them, as the next one would.
    machine_temp = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    tempdirs.sweep_stale(machine_temp)
    assert not list(Path(machine_temp).glob("grader-%d-*" % grader_process.pid))


@needs_sandbox
def test_every_forked_child_is_stopped_and_counted_in_the_sandbox_too():
    # The grader does not search the machine for a sandboxed program's processes once its
    # namespace has ended; the count comes from the namespace's init.
    report = grade_contained(hostile("forks_children"), grade_sandboxed)
    assert "100 process(es) your program started were still running and were stopped" in report.notes


@needs_sandbox
def test_a_stopped_program_s_children_are_counted_even_without_the_marker(tmp_path):
    # The grader stops a program that runs out of time by asking its init, which counts every
    # other process in the namespace: also one started with a cleared environment, which a
    # search for the run's marker cannot find.
    program = tmp_path / "server.py"
    program.write_text("import subprocess, sys, time\n"
                       "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], env={})\n"
                       "time.sleep(60)\n")
    report = grade_sandboxed(Fixture("server", program, {}, timeout=1.5))
    assert report.stopped_because == session.STOPPED_TIME_LIMIT, report.stopped_because
    assert "1 process(es) your program started were still running and were stopped" in report.notes, \
        report.notes


@needs_sandbox
def test_a_fork_of_the_grader_starts_its_own_fork_server():
    # Sharing the parent's server socket would mix up the two processes' programs.
    parent_server = sandbox._fork_server()
    child = os.fork()
    if child == 0:
        try:
            mine = sandbox._fork_server()
            os._exit(0 if mine is not parent_server and mine.owner == os.getpid() else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sandbox._fork_server() is parent_server  # and the parent keeps its own


@needs_sandbox
def test_the_sandboxed_program_gets_its_environment_however_big(tmp_path, monkeypatch):
    # A request carries the environment as changes to the fork server's own, so a big
    # environment (bigger than one request may be) is no obstacle.
    program = tmp_path / "server.py"
    program.write_text("import os\n"
                       "print(sum(len(v) for k, v in os.environ.items() if k.startswith('GRADER_TEST_BIG')),\n"
                       "      os.environ.get('GRADER_TEST_SMALL'), 'GRADER_TEST_GONE' in os.environ)\n")
    _set_big_variables(monkeypatch)
    monkeypatch.setenv("GRADER_TEST_GONE", "1")
    monkeypatch.setattr(sandbox, "_SERVER", [])  # a new server, started with these
    try:
        sandbox._fork_server()
        monkeypatch.setenv("GRADER_TEST_SMALL", "changed")  # set and removed after it started
        monkeypatch.delenv("GRADER_TEST_GONE")
        report = grade_sandboxed(Fixture("server", program, {}, timeout=5.0))
        assert report.stdout.splitlines()[:1] == ["%d changed False" % (3 * 100_000)], report.stdout
    finally:
        sandbox._fork_server().close()


def test_an_environment_change_too_big_for_the_sandbox_is_a_plain_reason(monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("namespaces exist only on Linux")
    sandbox._fork_server()  # started before the variables below exist
    _set_big_variables(monkeypatch)
    monkeypatch.setattr(sandbox, "_AVAILABILITY", [])  # decide again, with this environment
    available, reason = sandbox.available()
    assert not available
    assert "environment and arguments" in reason and "more than the sandbox takes" in reason, reason


def _set_big_variables(monkeypatch):
    """300 kB of environment, more than one request to the fork server may hold (in three
    variables: one string longer than 128 kB cannot be passed to a program at all)."""
    for i in range(3):
        monkeypatch.setenv("GRADER_TEST_BIG%d" % i, "x" * 100_000)


@needs_sandbox
def test_the_program_s_folder_is_there_with_its_subfolders():
    path = ROOT / "tests" / "fixtures" / "client" / "imports_from_package" / "client.py"
    report = grading.grade_file("client", path, GradeOptions(sandbox=True))
    assert report.full_marks, report.stderr
