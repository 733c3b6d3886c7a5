"""The probe preserves Python's behaviour (README policy 8): a wrapped socket method raises what
the real one raises, with the same message; the file is compiled as ``python3 FILE`` compiles
it; tracebacks show their source lines, with and without the sandbox.

The probe is run here by hand, as grader.running.launch runs it (``python -S -u bootstrap.py FILE`` with
the event and control pipes), so each case costs one interpreter start.  Other interpreters can
be compared too: GRADER_TEST_PYTHONS="/path/python3.9:/path/python3.13".
"""
from __future__ import annotations

import errno
import json
import os
import select
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from conftest import ROOT
from grader.running import sandbox
from grader.grading import GradeOptions, grade_file
from grader.report.text import render_text

BOOTSTRAP = ROOT / "grader" / "running" / "probe" / "bootstrap.py"
PYTHONS = [sys.executable] + [p for p in os.environ.get("GRADER_TEST_PYTHONS", "").split(os.pathsep) if p]


def run_probe(python: str, path: Path, display_path: str = "", timeout: float = 10.0,
              **config: str) -> Tuple[List[dict], str]:
    """Run ``path`` under the probe; returns (its events, its stderr)."""
    event_r, event_w = os.pipe()
    control_r, control_w = os.pipe()
    env = dict(os.environ, GRADER_PROBE="%d %d" % (event_w, control_r))
    process = subprocess.Popen([python, "-S", "-u", str(BOOTSTRAP), str(path)], pass_fds=(event_w, control_r),
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=str(path.parent))
    os.close(event_w)
    os.close(control_r)
    config = dict(config, hold="5", display_path=display_path or str(path))
    os.write(control_w, (" ".join("%s=%s" % (k, v.encode().hex()) for k, v in config.items()) + "\n").encode())
    events, buffer = [], b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not any(e["kind"] == "finished" for e in events):
            if not select.select([event_r], [], [], 0.2)[0]:
                continue
            chunk = os.read(event_r, 65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            events.extend(json.loads(line) for line in lines if line)
        os.write(control_w, b"\n")  # release the hold
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(event_r)
        os.close(control_w)
    return events, stderr.decode("utf-8", "replace")


# -- 1. wrapped methods raise Python's own errors ---------------------------------------------

# (method, positional arguments, keyword arguments): calls the real methods refuse.
BAD_CALLS = [
    ("connect", ("localhost", 12345), {}),
    ("connect", (), {}),
    ("connect", (), {"address": ("localhost", 12345)}),
    ("connect", (("localhost", "12345"),), {}),
    ("connect", (("localhost", 70000),), {}),
    ("connect", ("localhost:12345",), {}),
    ("connect", (("localhost",),), {}),
    ("connect_ex", ("localhost", 12345), {}),
    ("connect_ex", ((None, 12345),), {}),
    ("connect", (("localhost", 12345, 0, 0),), {}),
    ("connect", ([b"localhost", 12345],), {}),
    ("connect", ((b"localhost", 12345.0),), {}),
    ("bind", ("", 12345), {}),
    ("bind", (("", "12345"),), {}),
    ("bind", ((None, 12345),), {}),
    ("bind", (("", 12345, 0),), {}),
    ("bind", (("", -1),), {}),
    ("send", (), {}),
    ("send", ("Hello World!",), {}),
    ("send", (b"x", 0, 1), {}),
    ("send", (), {"data": b"x"}),
    ("sendall", ("Hello World!",), {}),
    ("sendall", (), {}),
    ("sendto", (b"x",), {}),
    ("recv", (), {}),
    ("recv", ("1024",), {}),
    ("recv", (1024, 0, 0), {}),
    ("recv", (-1,), {}),
    ("recv_into", (), {}),
    ("recvfrom", (), {}),
    ("recvfrom_into", (), {}),
    ("listen", (1, 2), {}),
    ("listen", ("5",), {}),
    ("accept", (1,), {}),
    ("shutdown", (), {}),
    ("shutdown", ("both",), {}),
    ("settimeout", (), {}),
    ("settimeout", (-1,), {}),
    ("settimeout", ("5",), {}),
    ("setblocking", (), {}),
    ("setblocking", (True, False), {}),
    ("close", (1,), {}),
    ("__init__", (2, 1, 0, None, 5), {}),
    ("__init__", ("AF_INET",), {}),
    ("__init__", (), {"family": 2, "kind": 1}),
]

_COMPARE = r'''
import importlib.util, json, os, socket, sys
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)
calls = eval(sys.argv[2])

def attempt(name, args, kwargs):
    try:
        if name == "__init__":
            socket.socket(*args, **kwargs).close()
        else:
            with socket.socket() as s:
                getattr(s, name)(*args, **kwargs)
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return None

real = [attempt(*call) for call in calls]
read, write = os.pipe()
probe._event_fd[0] = write
probe._config["connect_host"], probe._config["connect_port"] = "127.0.0.1", "9"
probe.install_socket_hooks()
hooked = [attempt(*call) for call in calls]
os.close(write)
events = os.read(read, 1 << 20).decode().splitlines()
print(json.dumps({"real": real, "hooked": hooked, "events": [json.loads(e) for e in events]}))
'''


@pytest.mark.parametrize("python", PYTHONS)
def test_wrapped_methods_raise_what_the_real_ones_raise(python):
    out = subprocess.run([python, "-c", _COMPARE, str(BOOTSTRAP), repr(BAD_CALLS)], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    for call, real, hooked in zip(BAD_CALLS, result["real"], result["hooked"]):
        assert real is not None, "%r does not fail: not a bad call" % (call,)
        assert hooked == real, call
    kinds = [e["kind"] for e in result["events"]]
    assert "tamper" not in kinds
    # The malformed connect() is recorded as a call that failed, with Python's message.
    returns = [e for e in result["events"] if e["kind"] == "connect_return"]
    assert [e["message"] for e in returns[:1]] == [result["real"][0][1]]
    assert kinds.count("connect_call") == sum(1 for c in BAD_CALLS if c[0].startswith("connect"))
    assert not any(e["ok"] for e in returns)


# -- 4. a non-blocking connect under way is pending, not failed --------------------------------

def test_a_connect_under_way_is_reported_pending_with_its_local_address(tmp_path):
    # A listener whose queue is full (backlog 0, one connection waiting): a further connect
    # stays under way, as a non-blocking connect does until the server's side answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        with socket.create_connection(listener.getsockname(), timeout=5):
            path = tmp_path / "client.py"
            path.write_text("import socket\ns = socket.socket()\ns.setblocking(False)\n"
                            "print(s.connect_ex(('localhost', 12345)))\n")
            events, stderr = run_probe(sys.executable, path, connect_host="127.0.0.1",
                                       connect_port=str(listener.getsockname()[1]))
    returns = [e for e in events if e["kind"] == "connect_return"]
    assert len(returns) == 1, returns
    assert returns[0]["errno"] == errno.EINPROGRESS and returns[0]["local"][1] > 0
    printed = "".join(e["text"] for e in events if e["kind"] == "stdout")
    assert printed.strip() == str(errno.EINPROGRESS)  # the program still gets the real result


# -- 2. the file is compiled as ``python3 FILE`` compiles it ----------------------------------

SOURCES = {
    "non_utf8_comment": b"x = 1  # caf\xff\nprint('ran')\n",
    "non_utf8_string_line_3": b"print('a')\n\ns = 'caf\xe9'\n",
    "latin1_cookie": b"# -*- coding: latin-1 -*-\nprint('caf\xe9')\n",
    "cookie_on_line_2": b"#!/usr/bin/env python3\n# coding: latin-1\nprint('caf\xe9')\n",
    "cookie_on_line_3": b"#!/usr/bin/env python3\n\n# coding: latin-1\nprint('caf\xe9')\n",
    "bom": b"\xef\xbb\xbfprint('bom')\n",
    "bom_with_latin1_cookie": b"\xef\xbb\xbf# coding: latin-1\nprint(1)\n",
    "unknown_encoding": b"# coding: klingon\nprint(1)\n",
    "utf8_cookie_bad_byte": b"# coding: utf-8\nx = '\xff'\n",
    "null_byte": b"print(1)\nx = 1\x00y\nprint(2)\n",
    "utf8_text": "print('Grüße, ñ')\n".encode("utf-8"),
}


def _console(python: str, path: Path) -> Tuple[int, str]:
    """What running the file by hand prints on stderr (last line) and its status."""
    out = subprocess.run([python, "-S", str(path)], capture_output=True, text=True, timeout=20,
                         stdin=subprocess.DEVNULL, cwd=str(path.parent))
    return out.returncode, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_file_compiles_as_running_it_does(python, name, tmp_path):
    path = tmp_path / "server.py"
    path.write_bytes(SOURCES[name])
    status, last_line = _console(python, path)
    events, stderr = run_probe(python, path)
    refused = [e for e in events if e["kind"] == "syntax_error"]
    finished = [e["status"] for e in events if e["kind"] == "finished"]
    if status == 0:
        assert not refused and finished == [0], stderr
    else:
        assert refused, "%s: Python refuses the file (%s), the probe ran it" % (name, last_line)
        assert stderr.strip().splitlines()[-1] == last_line
        assert refused[0]["traceback"].strip().splitlines()[-1] == last_line


# -- 3. tracebacks show their source lines ----------------------------------------------------

CRASHES = textwrap.dedent('''\
    def connect_to_server():
        raise RuntimeError("boom")

    connect_to_server()
''')


def test_a_traceback_shows_its_lines_where_the_student_path_cannot_be_read(tmp_path):
    path = tmp_path / "client.py"
    path.write_text(CRASHES)
    events, stderr = run_probe(sys.executable, path, display_path=str(tmp_path / "elsewhere" / "client.py"))
    exception = next(e for e in events if e["kind"] == "exception")
    for text in (exception["traceback"], stderr):
        assert "connect_to_server()" in text and 'raise RuntimeError("boom")' in text, text
        assert str(tmp_path / "elsewhere" / "client.py") in text


@pytest.mark.parametrize("sandboxed", [False, True], ids=["plain", "sandbox"])
def test_a_graded_traceback_shows_its_lines(sandboxed, tmp_path):
    if sandboxed and not sandbox.available():
        pytest.skip("the sandbox cannot run here")
    path = tmp_path / "client.py"
    path.write_text(CRASHES)
    report = grade_file("client", path, GradeOptions(timeout=5.0, sandbox=sandboxed))
    text = render_text(report, verbose=True)
    assert 'raise RuntimeError("boom")' in text, text
