"""Watch mode, driven as a student uses it: ``python -m grader server FILE --watch`` in a
pseudo-terminal, the file saved in between, Ctrl-C at the end.

Each test runs the real command with its temporary directory in the test's own folder, so
"nothing left behind" is checked on the folder and on the processes the grader started.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, grader_processes

pty = pytest.importorskip("pty")  # POSIX: Windows has no pseudo-terminals to drive

POLL = "0.15"
BROKEN_SERVER = (FIXTURES / "server" / "never_closes.py").read_text(encoding="utf-8")
FIXED_SERVER = BROKEN_SERVER + "conn.close()\ns.close()\n"


def _take_terminal() -> None:
    """In the child, after setsid: make the pseudo-terminal (its stdin) its controlling
    terminal, so Ctrl-C typed there is a SIGINT to it, as in a real terminal."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Watching:
    """``python -m grader ARGS --watch`` in a pseudo-terminal; ``screen`` is all it wrote."""

    def __init__(self, tmp_path: Path, *args: str):
        self.temp = tmp_path / "tmp"
        self.temp.mkdir()
        env = dict(os.environ, NO_COLOR="1", TMPDIR=str(self.temp), GRADER_WATCH_POLL=POLL,
                   PYTHONPATH=str(ROOT))
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "grader", *args, "--watch"], cwd=ROOT,
                                     env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, preexec_fn=_take_terminal)
        os.close(slave)
        self.screen = ""

    def read_until(self, pattern: str, count: int = 1, seconds: float = 30.0) -> str:
        """Read until ``pattern`` (a regex) occurs ``count`` times in all that was written."""
        deadline = time.monotonic() + seconds
        while len(re.findall(pattern, self.screen)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError("no %r (x%d) in:\n%s" % (pattern, count, self.screen))
        return self.screen

    def _read(self, seconds: float) -> bool:
        """Read what arrives within ``seconds``; False once the terminal is closed."""
        ready, _, _ = select.select([self.master], [], [], min(seconds, 0.5))
        if ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the command ended and closed the terminal
                return False
            if not data:
                return False
            self.screen += data.decode("utf-8", "replace")
        return True

    def interrupt(self, seconds: float = 15.0) -> int:
        os.write(self.master, b"\x03")  # Ctrl-C, as typed: the terminal sends SIGINT
        deadline = time.monotonic() + seconds
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        for _ in range(20):  # what it wrote last
            if not self._read(0.05):
                break
        assert self.proc.poll() is not None, "still running after Ctrl-C:\n" + self.screen
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def _left_behind(watching: Watching):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (grader_processes() or list(watching.temp.iterdir())):
        time.sleep(0.1)
    return grader_processes(), list(watching.temp.iterdir())


def _save(path: Path, text: str) -> None:
    # A save a few milliseconds after the previous one can keep the same mtime on a coarse
    # clock; the size or inode then tells, but make sure by waiting a little.
    time.sleep(0.05)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def watching(tmp_path):
    started = []

    def start(*args):
        started.append(Watching(tmp_path, *args))
        return started[-1]

    yield start
    for w in started:
        w.close()


def test_a_save_is_graded_again_and_says_what_changed(tmp_path, watching):
    program = tmp_path / "lab" / "server.py"
    program.parent.mkdir()
    program.write_text(BROKEN_SERVER, encoding="utf-8")
    w = watching("server", str(program))
    w.read_until(r"Since the last run: first run")
    assert "\033[2J\033[H" in w.screen  # a terminal: the screen is cleared
    assert re.search(r"FAIL  server\.closes", w.screen) and "Score: 10/11" in w.screen

    _save(program, FIXED_SERVER)
    screen = w.read_until(r"Since the last run: ", 2)
    last = screen[screen.rindex("\033[2J"):]
    assert "Since the last run: server.closes now passes (score 11/11, was 10)" in last
    assert "all checks passed" in last and "FAIL" not in last

    _save(program, BROKEN_SERVER)
    last = w.read_until(r"Since the last run: ", 3)
    assert "Since the last run: server.closes now fails" in last[last.rindex("\033[2J"):]

    _save(program, BROKEN_SERVER)  # saved again, same text
    last = w.read_until(r"Since the last run: ", 4)
    assert "Since the last run: no change" in last[last.rindex("\033[2J"):]
    assert w.interrupt() == 130


def test_a_syntax_error_and_a_missing_file_are_shown_and_watching_goes_on(tmp_path, watching):
    program = tmp_path / "server.py"
    program.write_text(FIXED_SERVER, encoding="utf-8")
    w = watching("server", str(program))
    w.read_until(r"Since the last run: first run")

    _save(program, FIXED_SERVER.replace("s.listen(1)", "s.listen(1"))
    screen = w.read_until(r"Since the last run: ", 2)
    last = screen[screen.rindex("\033[2J"):]
    assert "SyntaxError" in last and "FAIL  server.runs" in last
    assert "server.runs now fails" in last

    program.unlink()
    screen = w.read_until(r"Since the last run: ", 3)
    last = screen[screen.rindex("\033[2J"):]
    assert "There is no file" in last and "the file cannot be graded now" in last

    _save(program, FIXED_SERVER)
    screen = w.read_until(r"Since the last run: ", 4)
    last = screen[screen.rindex("\033[2J"):]
    assert "all checks passed" in last and "the file can be graded again" in last
    assert w.interrupt() == 130
    assert "internal error" not in w.screen and "KeyboardInterrupt" not in w.screen


def test_a_helper_module_beside_it_is_watched_too(tmp_path, watching):
    folder = tmp_path / "lab"
    folder.mkdir()
    helper = folder / "lab_settings.py"
    helper.write_text('MESSAGE = "Hello World!"\n', encoding="utf-8")
    program = folder / "server.py"
    program.write_text(FIXED_SERVER.replace('conn.sendall(b"Hello World!")',
                                            "from lab_settings import MESSAGE\nconn.sendall(MESSAGE.encode())"),
                       encoding="utf-8")
    w = watching("server", str(program))
    w.read_until(r"Since the last run: first run")
    assert "all checks passed" in w.screen and "and 1 other .py file in its folder" in w.screen

    _save(helper, 'MESSAGE = "Hello Wrld!"\n')
    screen = w.read_until(r"Since the last run: ", 2)
    assert "server.sends_message now fails" in screen[screen.rindex("\033[2J"):]
    assert w.interrupt() == 130


def test_a_save_caught_halfway_is_not_graded(tmp_path, watching):
    program = tmp_path / "server.py"
    program.write_text(BROKEN_SERVER, encoding="utf-8")
    w = watching("server", str(program))
    w.read_until(r"Since the last run: first run")
    time.sleep(0.3)
    half = len(FIXED_SERVER) // 2  # cut inside the code: graded, it would be a SyntaxError
    with open(program, "w", encoding="utf-8") as handle:
        handle.write(FIXED_SERVER[:half])
        handle.flush()
        time.sleep(0.04)  # well under the settle time (one poll, 0.15 s)
        handle.write(FIXED_SERVER[half:])
    screen = w.read_until(r"Since the last run: ", 2)
    time.sleep(1.0)  # time for a further grading, were one coming
    w._read(0.2)
    assert w.screen.count("grading...") == 1, w.screen
    assert "SyntaxError" not in w.screen and "server.closes now passes" in screen
    assert w.interrupt() == 130


def test_ctrl_c_during_a_grading_stops_at_once_and_leaves_nothing(tmp_path, watching):
    program = tmp_path / "server.py"
    program.write_text(FIXED_SERVER, encoding="utf-8")
    w = watching("server", str(program), "--timeout", "60")
    w.read_until(r"Since the last run: first run")
    _save(program, BROKEN_SERVER.replace("conn.sendall", "import time\ntime.sleep(120)\nconn.sendall"))
    w.read_until(r"grading\.\.\.")
    time.sleep(1.0)  # the program is in its sleep now
    assert grader_processes(), "the sleeping program should be running"
    began = time.monotonic()
    assert w.interrupt() == 130
    assert time.monotonic() - began < 10  # not the 60 s time limit
    assert "Stopped watching" in w.screen
    assert "Traceback" not in w.screen and "internal error" not in w.screen
    processes, files = _left_behind(w)
    assert processes == [] and files == []


def test_watch_a_client_in_another_exercise(tmp_path, watching):
    program = tmp_path / "client.py"
    reference = (ROOT / "reference" / "echo" / "client.py").read_text(encoding="utf-8")
    program.write_text(reference, encoding="utf-8")
    w = watching("client", str(program), "--exercise", "echo")
    w.read_until(r"Since the last run: first run")
    assert "TCP Echo" in w.screen and "all checks passed" in w.screen
    _save(program, reference.replace("print(b\"\".join(chunks).decode().strip())", 'print("Echo me, please!")'))
    screen = w.read_until(r"Since the last run: ", 2)
    assert "client.prints_reply now fails" in screen[screen.rindex("\033[2J"):]
    assert w.interrupt() == 130


def test_not_a_terminal_gets_separators_and_sigterm_ends_it(tmp_path):
    program = tmp_path / "server.py"
    program.write_text(FIXED_SERVER, encoding="utf-8")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, NO_COLOR="1", TMPDIR=str(temp), GRADER_WATCH_POLL=POLL)
    proc = subprocess.Popen([sys.executable, "-m", "grader", "server", str(program), "--watch"], cwd=ROOT,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        first = ""
        while "Since the last run" not in first and time.monotonic() < deadline:
            first += proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        rest, errors = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, errors
    out = first + rest
    assert "\033[" not in out and re.search(r"^=+ grading 1 at \d\d:\d\d:\d\d =+$", out, re.M)
    assert "all checks passed" in out and "Stopped watching" in out and errors == ""
    assert list(temp.iterdir()) == []


def test_watch_refuses_other_formats():
    result = subprocess.run([sys.executable, "-m", "grader", "server", "reference/server.py", "--watch",
                             "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "--watch shows the checklist" in result.stderr


@pytest.mark.skipif(not (ROOT / "grader" / "exercises" / "udp_hello").is_dir(),
                    reason="the udp_hello exercise is not shipped here")
def test_watch_a_datagram_server(tmp_path, watching):
    program = tmp_path / "server.py"
    reference = (ROOT / "reference" / "udp_hello" / "server.py").read_text(encoding="utf-8")
    program.write_text(reference, encoding="utf-8")
    w = watching("server", str(program), "--exercise", "udp_hello")
    w.read_until(r"Since the last run: first run")
    assert "UDP Hello World" in w.screen and "all checks passed" in w.screen
    _save(program, reference.replace('"Hello World!".encode()', '"Hello World".encode()'))
    screen = w.read_until(r"Since the last run: ", 2)
    assert "server.sends_message now fails" in screen[screen.rindex("\033[2J"):]
    assert w.interrupt() == 130
