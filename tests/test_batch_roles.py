"""Role detection: which of a student's files is the server and which the client."""
from pathlib import Path

from grader.batch.roles import assign_roles, role_from_code, role_from_name
from test_batch_support import write

SERVER_CODE = "import socket\ns = socket.socket()\ns.bind(('', 12345))\ns.listen(1)\nc, a = s.accept()\n"
CLIENT_CODE = "import socket\ns = socket.socket()\ns.connect(('localhost', 12345))\nprint(s.recv(1024))\n"


def test_role_from_name_reads_common_names():
    assert role_from_name("server.py") == "server"
    assert role_from_name("HW3 Client (1).py") == "client"
    assert role_from_name("my_srv.py") == "server"
    assert role_from_name("part1.py") is None
    assert role_from_name("client_server.py") is None  # names both: undecided


def test_role_from_code_reads_socket_calls():
    assert role_from_code(SERVER_CODE) == "server"
    assert role_from_code(CLIENT_CODE) == "client"
    assert role_from_code("print('hi')") is None


def test_unnamed_files_are_assigned_by_code(tmp_path: Path):
    a = write(tmp_path / "part1.py", SERVER_CODE)
    b = write(tmp_path / "part2.py", CLIENT_CODE)
    got = assign_roles([a, b])
    assert got.files == {"server": a, "client": b}
    assert any("socket calls" in n for n in got.notes)


def test_third_file_is_kept_as_extra_with_a_reason(tmp_path: Path):
    server = write(tmp_path / "server.py", SERVER_CODE)
    old = write(tmp_path / "server_old.py", SERVER_CODE)
    client = write(tmp_path / "client.py", CLIENT_CODE)
    got = assign_roles([old, server, client])
    assert got.files == {"server": server, "client": client}
    assert got.extra == (old,)
    assert any("server_old.py" in n and "graded server.py" in n for n in got.notes)


def test_newest_canvas_resubmission_wins(tmp_path: Path):
    first = write(tmp_path / "a_1_2_server.py", "print('old')\n" + SERVER_CODE)
    second = write(tmp_path / "a_1_3_server-1.py", SERVER_CODE)
    got = assign_roles([first, second], {first: "server.py", second: "server-1.py"})
    assert got.files["server"] == second
    assert got.extra == (first,)


def test_non_python_and_undecidable_files_are_listed_not_graded(tmp_path: Path):
    doc = write(tmp_path / "server.docx", "binary")
    mystery = write(tmp_path / "notes.py", "print('hello')\n")
    got = assign_roles([doc, mystery])
    assert got.files == {}
    assert set(got.extra) == {doc, mystery}
    assert any("server.docx" in n and "not a Python" in n for n in got.notes)
    assert any("notes.py" in n and "do not tell" in n for n in got.notes)


UDP_SERVER_CODE = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                   "s.bind(('', 12345))\ndata, peer = s.recvfrom(1024)\ns.sendto(b'Hi', peer)\n")
UDP_CLIENT_CODE = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                   "s.sendto(b'Hi', ('localhost', 12345))\nprint(s.recvfrom(1024)[0].decode())\n")


def test_datagram_programs_are_told_apart_by_who_speaks_first():
    assert role_from_code(UDP_SERVER_CODE) == "server"
    assert role_from_code(UDP_CLIENT_CODE) == "client"
    only_binds = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('', 1))\n"
    assert role_from_code(only_binds) == "server"
    # A stream program is judged by its stream calls alone, as before.
    assert role_from_code("s.recvfrom(1)\ns.sendto(b'', a)\n") is None


def test_reference_programs_of_every_exercise_are_assigned_by_code(tmp_path: Path):
    root = Path(__file__).resolve().parent.parent / "reference"
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) + [root]:
        if not (folder / "server.py").is_file():
            continue
        a = write(tmp_path / folder.name / "part1.py", (folder / "server.py").read_text())
        b = write(tmp_path / folder.name / "part2.py", (folder / "client.py").read_text())
        assert assign_roles([a, b]).files == {"server": a, "client": b}, folder.name
