"""``--sandbox``: the program in its own network, PID and mount namespaces (grader/sandbox.py).

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
from unittest import mock

import pytest

from conftest import ROOT, Fixture, descriptors_taken_past
from grader import grading, sandbox
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
    probe = ROOT / "grader" / "probe" / "bootstrap.py"
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
            "from grader import sandbox, session\n"
            "ok, why = sandbox.available()\n"
            "if not ok: print('unavailable', why); sys.exit(0)\n"
            "from grader.exercise import HELLO_WORLD\n"
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
        assert box.pass_fds()[0] > 1100
        process = subprocess.Popen(
            box.command([sys.executable, "-I", "-S", "-c", "import time; time.sleep(30)"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=box.pass_fds(), close_fds=True)
        try:
            box.started()
            for _ in range(2):  # and it keeps answering
                with box.new_socket(socket.AF_INET) as sock:
                    sock.bind(("127.0.0.1", 0))
                    sock.listen(1)
        finally:
            process.kill()
            process.wait(timeout=10)
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

    monkeypatch.setattr(sandbox, "_mount_points", table)
    monkeypatch.setattr(sandbox, "_locked_flags", lambda point: 0)
    read_only = sandbox.MS_BIND | sandbox.MS_REMOUNT | sandbox.MS_NOSUID | sandbox.MS_RDONLY | sandbox.MS_NODEV

    libc = _RecordingLibc()
    sandbox._bind(libc, "/usr", "/new/usr", host)
    assert libc.calls == [("/usr", "/new/usr", sandbox.MS_BIND | sandbox.MS_REC),
                          (None, "/new/usr", read_only)]
    assert reads == []  # nothing below /usr: no second look

    libc = _RecordingLibc()
    sandbox._bind(libc, "/srv/data", "/new/srv/data", host)
    assert libc.calls[1:] == [(None, "/new/srv/data", read_only), (None, "/new/srv/data/inner", read_only)]
    assert reads == [1]


def test_the_init_starts_without_heavy_imports():
    # The init runs once per sandboxed program: json (with re and enum), typing, socket,
    # signal and threading cost it more than its whole work.  Run this file as the init would
    # (``__name__ == "__main__"``, -I -S) up to its first use of the arguments, then look.
    code = ("import sys\n"
            "path = sys.argv[1]\n"
            "sys.argv = [path]  # no spec: the init stops at once with ValueError\n"
            "try:\n"
            "    exec(compile(open(path).read(), path, 'exec'), {'__name__': '__main__', '__file__': path})\n"
            "except ValueError:\n"
            "    pass\n"
            "print(' '.join(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code, sandbox.THIS_FILE],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    loaded = set(result.stdout.split())
    assert "os" in loaded, result.stdout + result.stderr
    heavy = {"json", "re", "enum", "typing", "socket", "signal", "threading", "selectors"}
    assert not loaded & heavy, sorted(loaded & heavy)


@needs_sandbox
def test_every_forked_child_is_stopped_and_counted_in_the_sandbox_too():
    # The grader does not search the machine for a sandboxed program's processes once its
    # namespace has ended; the count comes from the namespace's init.
    report = grade_contained(hostile("forks_children"), grade_sandboxed)
    assert "100 process(es) your program started were still running and were stopped" in report.notes
