"""Exercises as data: the format, the checks derived from steps, choosing one, and the self-test.

The last tests build a small exercise in a temporary folder from docs/exercises.md alone
(another message, the lines in another order) and grade its reference and a faulty program.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from grader.exercises.default import HELLO_WORLD
from grader.exercises.loader import ExerciseError, find_exercise, load_exercise, shipped_names
from grader.grading import GradeOptions, grade_file
from grader.exercises.selftest import run_selftest


def test_hello_world_checks_follow_from_its_steps():
    descriptions = {s.id: s.description for role in ("server", "client") for s in HELLO_WORLD.specs(role)}
    # Each console line judged against its neighbouring socket steps.
    assert descriptions["server.waiting_printed"] == 'It prints "Waiting for connection..." before calling accept()'
    assert descriptions["server.accepted_printed"] == 'It prints "Connection request accepted!" after accept() returned'
    assert descriptions["server.sent_printed"] == 'It prints "Message sent!" after sending the message'
    assert descriptions["client.connecting_printed"] == 'It prints "Connecting to server..." before calling connect()'
    assert descriptions["client.waiting_printed"] == \
        'It prints "Waiting for reply..." after connecting and before the first recv()'
    assert [s.id for s in HELLO_WORLD.specs("server")][0::8] == ["server.runs", "server.exits"]
    sends = next(s for s in HELLO_WORLD.specs("server") if s.id == "server.sends_message")
    assert (sends.points, sends.requires, sends.evidence) == (2, ("server.accepts",), ("counterpart",))
    assert next(s for s in HELLO_WORLD.specs("server") if s.id == "server.exits").requires == ()


def test_every_shipped_exercise_is_listed_and_loads():
    assert {"hello", "echo", "udp_hello"} <= set(shipped_names())
    echo = find_exercise("echo")
    assert echo.name == "TCP Echo" and echo.id == "echo"
    assert "server.echoes" in [s.id for s in echo.specs("server")]
    assert "client.sends_line" in [s.id for s in echo.specs("client")]


@pytest.mark.parametrize("name", shipped_names())
def test_selftest_agrees_for_every_shipped_exercise(name):
    out = io.StringIO()
    assert run_selftest(find_exercise(name), jobs=8, out=out), out.getvalue()
    assert "all agree" in out.getvalue()


@pytest.mark.parametrize("broken, says", [
    ("{not json", "not valid JSON"),
    ('{"name": "x", "message": "m", "steps": {"server": [{"kind": "jump"}], "client": []}}', "kind 'jump'"),
    ('{"name": "x", "message": "m", "steps": {"server": [{"kind": "listen", "check": "client.x"}], '
     '"client": []}}', 'start with "server."'),
    ('{"name": "x", "message": "m", "steps": {"server": []}}', "missing field 'client'"),
    ('{"name": "x", "message": "m", "transport": "pigeon", "steps": {"server": [], "client": []}}', "pigeon"),
])
def test_a_broken_exercise_file_is_refused_with_the_reason(tmp_path, broken, says):
    (tmp_path / "exercise.json").write_text(broken)
    with pytest.raises(ExerciseError) as raised:
        load_exercise(str(tmp_path))
    assert says in str(raised.value) and str(tmp_path) in str(raised.value)


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=str(cwd), capture_output=True,
                          text=True, timeout=120)


def test_the_exercises_command_lists_a_line_each():
    result = _cli("exercises")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(shipped_names())
    assert any(line.startswith("echo") and "TCP Echo" in line for line in lines)
    assert any(line.startswith("hello") and "TCP Hello World" in line for line in lines)


def test_an_unknown_exercise_is_a_clear_error(tmp_path):
    result = _cli("server", str(ROOT / "reference" / "server.py"), "--exercise", "nope")
    assert result.returncode == 2
    assert "unknown exercise 'nope'" in result.stderr and "echo" in result.stderr
    result = _cli("server", str(ROOT / "reference" / "server.py"), "--exercise", str(tmp_path))
    assert result.returncode == 2 and "no exercise.json" in result.stderr


def test_reports_name_their_exercise():
    result = _cli("server", str(ROOT / "reference" / "echo" / "server.py"), "--exercise", "echo",
                  "--format", "json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["exercise"] == "TCP Echo"
    text = _cli("client", str(ROOT / "reference" / "client.py"))
    assert text.returncode == 0 and "of TCP Hello World" in text.stdout.splitlines()[0]


def test_an_echo_server_that_hard_codes_its_reply_fails_even_with_the_handout_line(tmp_path):
    # The reference client sends a random line of the message's shape, never the example one.
    echo = find_exercise("echo")
    server = tmp_path / "server.py"
    server.write_text(textwrap.dedent('''\
        import socket
        s = socket.socket()
        s.bind(("", 12345))
        s.listen(1)
        conn, address = s.accept()
        conn.recv(1024)
        conn.sendall(%r)
        conn.close()
        s.close()
        ''' % (echo.message + "\n").encode()))
    report = grade_file("server", server, exercise=echo)
    assert report.check("server.echoes").status.value == "failed"
    assert report.check("server.receives_line").passed


# -- a new exercise, written from docs/exercises.md alone -----------------------------------------

GREETING = {
    "name": "greeting",
    "title": "TCP Greeting",
    "message": "Good morning, 7 dwarfs!",
    "time_limit": 5,
    "reference": {"server": "ref_server.py", "client": "ref_client.py"},
    "template": {},
    "fixtures": "fixtures",
    "steps": {
        "server": [
            {"kind": "listen", "check": "server.listens"},
            {"kind": "accept", "check": "server.accepts", "points": 2},
            {"kind": "send", "check": "server.greets", "data": "message", "points": 3},
            {"kind": "print", "check": "server.greeted_printed", "text": "Greeting delivered."},
            {"kind": "close", "check": "server.closes"},
        ],
        "client": [
            {"kind": "connect", "check": "client.connects"},
            {"kind": "print", "check": "client.ready_printed", "text": "Connected; listening."},
            {"kind": "recv"},
            {"kind": "print_received", "check": "client.shows_greeting", "points": 3,
             "hint": "Print exactly what recv() returned, decoded."},
            {"kind": "close", "check": "client.closes"},
        ],
    },
}

REF_SERVER = '''\
import socket
s = socket.socket()
s.bind(("", 12345))
s.listen(1)
conn, address = s.accept()
conn.sendall("Good morning, 7 dwarfs!".encode())
print("Greeting delivered.")
conn.close()
s.close()
'''

REF_CLIENT = '''\
import socket
s = socket.socket()
s.connect(("localhost", 12345))
print("Connected; listening.")
print(s.recv(1024).decode())
s.close()
'''


@pytest.fixture
def greeting(tmp_path):
    folder = tmp_path / "greeting"
    (folder / "fixtures" / "server").mkdir(parents=True)
    (folder / "fixtures" / "client").mkdir(parents=True)
    (folder / "exercise.json").write_text(json.dumps(GREETING))
    (folder / "ref_server.py").write_text(REF_SERVER)
    (folder / "ref_client.py").write_text(REF_CLIENT)
    return folder


def test_a_new_exercise_grades_its_reference_with_full_marks(greeting):
    exercise = load_exercise(str(greeting))
    server = grade_file("server", greeting / "ref_server.py", exercise=exercise)
    assert server.full_marks, [c for c in server.checks if not c.passed]
    assert [c.id for c in server.checks] == ["server.runs", "server.listens", "server.accepts", "server.greets",
                                             "server.greeted_printed", "server.closes", "server.exits"]
    assert server.max_score == 1 + 1 + 2 + 3 + 1 + 1 + 1
    assert server.check("server.greeted_printed").description == \
        'It prints "Greeting delivered." after sending the message'
    client = grade_file("client", greeting / "ref_client.py", exercise=exercise)
    assert client.full_marks, [c for c in client.checks if not c.passed]
    assert client.exercise == "TCP Greeting"


def test_a_new_exercise_fails_a_faulty_program_where_it_is_faulty(greeting):
    exercise = load_exercise(str(greeting))
    early = greeting / "early_server.py"  # prints before sending, and sends the other lab's message
    early.write_text(REF_SERVER.replace('conn.sendall("Good morning, 7 dwarfs!".encode())\n'
                                        'print("Greeting delivered.")\n',
                                        'print("Greeting delivered.")\nconn.sendall(b"Hello World!")\n'))
    report = grade_file("server", early, exercise=exercise)
    failed = {c.id for c in report.checks if c.status.value == "failed"}
    assert failed == {"server.greets", "server.greeted_printed"}
    assert report.check("server.greets").expected == '"Good morning, 7 dwarfs!"'
    constant = greeting / "constant_client.py"  # prints the greeting it expects, not what came
    constant.write_text(REF_CLIENT.replace("print(s.recv(1024).decode())",
                                           "s.recv(1024)\nprint('Good morning, 7 dwarfs!')"))
    report = grade_file("client", constant, exercise=exercise)
    assert [c.id for c in report.checks if not c.passed] == ["client.shows_greeting"]
    assert report.check("client.shows_greeting").hint == "Print exactly what recv() returned, decoded."


def test_selftest_says_what_disagrees(greeting):
    (greeting / "fixtures" / "client" / "claims_too_much.py").write_text(
        '"""Never closes, but its docstring claims every check passes.\n\nexpect: runs=pass connects=pass '
        'ready_printed=pass shows_greeting=pass closes=pass exits=pass\n"""\n'
        + REF_CLIENT.replace("s.close()\n", ""))
    out = io.StringIO()
    assert not run_selftest(load_exercise(str(greeting)), jobs=4, out=out)
    said = out.getvalue()
    assert "DISAGREES  fixture client/claims_too_much" in said
    assert "client.closes: expected passed, got failed" in said
    assert "1 disagree" in said and "DISAGREES  reference" not in said
    result = _cli("selftest", str(greeting))
    assert result.returncode == 1 and "claims_too_much" in result.stdout


def test_an_exercise_folder_outside_the_project_is_graded_from_the_command_line(greeting):
    result = _cli("client", str(greeting / "ref_client.py"), "--exercise", str(greeting), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["exercise"] == "TCP Greeting"
    assert [c["id"] for c in report["checks"]][1:3] == ["client.connects", "client.ready_printed"]


CODE_CHECKS = '''\
from grader.judging.checks import Fail, Pass, check


@check("client.polite")
def polite(ctx):
    said = [line.text for line in ctx.facts.lines]
    if any("thank" in line.lower() for line in said):
        return Pass()
    return Fail("a line that thanks the server", "no line says thank you", 'Add print("Thank you!").')
'''


def test_a_check_in_code_is_judged_where_its_step_stands(greeting):
    data = json.loads((greeting / "exercise.json").read_text())
    data["steps"]["client"].insert(4, {"kind": "code", "check": "client.polite", "points": 2,
                                       "description": "It thanks the server"})
    (greeting / "exercise.json").write_text(json.dumps(data))
    (greeting / "checks.py").write_text(CODE_CHECKS)
    exercise = load_exercise(str(greeting))
    rude = grade_file("client", greeting / "ref_client.py", exercise=exercise)
    polite = rude.check("client.polite")
    assert (polite.status.value, polite.hint, polite.max_points) == ("failed", 'Add print("Thank you!").', 2)
    assert [c.id for c in rude.checks][3:6] == ["client.shows_greeting", "client.polite", "client.closes"]
    assert polite.description == "It thanks the server"
    thanking = greeting / "thanking_client.py"
    thanking.write_text(REF_CLIENT.replace("s.close()", "print('Thank you!')\ns.close()"))
    assert grade_file("client", thanking, exercise=exercise).full_marks


def test_a_code_step_without_its_check_is_refused(greeting):
    data = json.loads((greeting / "exercise.json").read_text())
    data["steps"]["client"].append({"kind": "code", "check": "client.unwritten"})
    (greeting / "exercise.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="client.unwritten"):
        grade_file("client", greeting / "ref_client.py", exercise=load_exercise(str(greeting)))
