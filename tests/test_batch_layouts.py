"""The shapes a TA's submissions really come in: a class zip with a folder around it, a folder of
per-student zips, stray handouts beside the students, Canvas's own names (anonymous grading,
late flags, groups), and a layout that would make one student of a whole class."""
import io
import json
import zipfile
from pathlib import Path

import pytest

from grader.batch import source
from grader.batch.discover import CANVAS, FOLDERS, ZIPS, canvas_file, discover, suspicious
from grader.batch.run import BAD_INPUT, BatchOptions, run_batch
from test_batch_support import fake_grade, write

SERVER = "# pass\ns.listen(1)\nc, a = s.accept()\n"
CLIENT = "# pass\ns.connect(('localhost', 12345))\n"


def _zip(archive: Path, members: dict) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return archive


def _run(submissions: Path, out: Path, **options):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_batch(submissions, BatchOptions(out=out, **options), stdout=stdout, stderr=stderr,
                     grade=fake_grade, show_progress=False)
    return code, stdout.getvalue(), stderr.getvalue()


def _roles(sub) -> dict:
    return {role: sub.shown(path) for role, path in sub.files.items()}


# A class zip made by "Compress" / "Send to > Compressed folder": one folder around everything.

@pytest.mark.parametrize("macos", [False, True])
def test_class_zip_with_a_top_folder_a_starter_file_and_a_readme_beside_it(tmp_path, macos):
    members = {
        "lab1/alice/server.py": SERVER, "lab1/alice/client.py": CLIENT,
        "lab1/bob/my_server.py": SERVER, "lab1/bob/my_client.py": CLIENT,
        "lab1/starter_code.py": "# the handout's starter code\n",
        "README.txt": "how this zip was made\n",
    }
    if macos:
        members.update({"__MACOSX/lab1/._alice": "x", "__MACOSX/._lab1": "x"})
    archive = _zip(tmp_path / "class.zip", members)
    with source.opened(archive) as root:
        found = discover(root, label="class.zip")
        assert found.layout == FOLDERS
        assert [s.student for s in found.submissions] == ["alice", "bob"]
        assert all(set(s.files) == {"server", "client"} for s in found.submissions)
        assert [p.name for p in found.unmatched] == ["starter_code.py"]
        assert [p.name for p in found.ignored] == ["README.txt"]
        assert found.where == "class.zip/lab1"


def test_nested_top_folders_are_stepped_into_and_strays_on_the_way_are_listed(tmp_path):
    write(tmp_path / "CS101" / "syllabus.pdf")
    write(tmp_path / "CS101" / "lab1" / "handout.pdf")
    for name in ("ann", "bo", "cy"):
        write(tmp_path / "CS101" / "lab1" / name / "server.py", SERVER)
    found = discover(tmp_path)
    assert [s.student for s in found.submissions] == ["ann", "bo", "cy"]
    assert found.root == tmp_path / "CS101" / "lab1"
    assert sorted(p.name for p in found.ignored) == ["handout.pdf", "syllabus.pdf"]
    assert found.unmatched == ()


def test_a_lone_students_folder_stays_a_student(tmp_path):
    # alice/ holds her programs and one folder of old attempts: her work, not a class
    write(tmp_path / "alice" / "server.py", SERVER)
    write(tmp_path / "alice" / "client.py", CLIENT)
    write(tmp_path / "alice" / "old" / "server.py", SERVER)
    found = discover(tmp_path)
    assert [s.student for s in found.submissions] == ["alice"]
    assert _roles(found.submissions[0])["server"] == "server.py"


# A folder (or a zip) of per-student zips.

def _student_zips(folder: Path) -> None:
    _zip(folder / "alice.zip", {"alice/server.py": SERVER, "alice/client.py": CLIENT})
    _zip(folder / "bob.zip", {"srv.py": SERVER, "cli.py": CLIENT})  # no folder of his own
    _zip(folder / "Cy Dee.zip", {"Lab 1/Lab 1/TCPServer.py": SERVER,
                                 "__MACOSX/Lab 1/._TCPServer.py": "x"})


def test_a_folder_of_per_student_zips_is_one_student_per_zip(tmp_path):
    subs, scratch = tmp_path / "subs", tmp_path / "scratch"
    scratch.mkdir()
    _student_zips(subs)
    write(subs / "grades.xlsx", "x")
    found = discover(subs, scratch=scratch)
    assert found.layout == ZIPS
    alice, bob, cy = found.submissions
    assert [s.student for s in found.submissions] == ["alice", "bob", "Cy Dee"]
    assert _roles(alice) == {"server": "alice.zip/alice/server.py",
                             "client": "alice.zip/alice/client.py"}
    assert _roles(bob) == {"server": "bob.zip/srv.py", "client": "bob.zip/cli.py"}
    assert _roles(cy) == {"server": "Cy Dee.zip/Lab 1/Lab 1/TCPServer.py"}
    assert [p.name for p in found.ignored] == ["grades.xlsx"] and found.unmatched == ()


def test_a_class_zip_of_per_student_zips_under_a_top_folder_is_graded(tmp_path):
    inner = tmp_path / "zips"
    _student_zips(inner)
    archive = _zip(tmp_path / "class.zip", {
        f"Lab1 submissions/{p.name}": p.read_bytes() for p in inner.iterdir()})
    code, stdout, stderr = _run(archive, tmp_path / "out")
    assert code == 0, stderr
    assert stdout.splitlines()[0] == (
        f"Found 3 students (one .zip per student, in {archive}/Lab1 submissions/)")
    students = json.loads((tmp_path / "out" / "results.json").read_text())["students"]
    states = {s["student"]: [s["roles"][r]["state"] for r in ("server", "client")]
              for s in students}
    assert states == {"alice": ["graded", "graded"], "bob": ["graded", "graded"],
                      "Cy Dee": ["graded", "missing"]}


# Stray files at the top of a class.

def test_stray_files_at_the_root_of_a_folder_per_student_class_are_ignored_and_listed(tmp_path):
    for name in ("ann", "bo", "cy"):
        write(tmp_path / name / "server.py", SERVER)
    for stray in ("handout.pdf", "README.md", "notes.txt", "roster.csv", "grades.xlsx",
                  "diagram.png", "lab_1_handout.pdf", "grades_2024_10_fall.csv"):
        write(tmp_path / stray, "x")  # the last two have a Canvas name's numbers in them
    found = discover(tmp_path)
    assert found.layout == FOLDERS
    assert [s.student for s in found.submissions] == ["ann", "bo", "cy"]
    assert len(found.ignored) == 8 and found.unmatched == ()


def test_stray_programs_and_a_stray_canvas_file_do_not_change_the_layout(tmp_path):
    for name in ("ann", "bo", "cy"):
        write(tmp_path / name / "server.py", SERVER)
    write(tmp_path / "reference_server.py", SERVER)
    write(tmp_path / "doejane_12345_67890_server.py", SERVER)  # one file Canvas named
    found = discover(tmp_path)
    assert found.layout == FOLDERS and len(found.submissions) == 3
    assert [p.name for p in found.unmatched] == ["doejane_12345_67890_server.py",
                                                 "reference_server.py"]


def test_first_line_says_what_was_found_where_and_what_was_ignored(tmp_path):
    archive = _zip(tmp_path / "class.zip", {
        "CS101-lab1/alice/server.py": SERVER, "CS101-lab1/bob/server.py": SERVER,
        "CS101-lab1/handout.pdf": "x", "CS101-lab1/README.txt": "x", "CS101-lab1/extra.py": "x"})
    code, stdout, _ = _run(archive, tmp_path / "out")
    assert code == 0
    assert stdout.splitlines()[0] == (
        f"Found 2 students (one folder per student, in {archive}/CS101-lab1/); ignored: "
        "README.txt, handout.pdf; 1 file fit no student (listed at the end)")
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["ignored_files"] == ["CS101-lab1/README.txt", "CS101-lab1/handout.pdf"]
    assert document["unmatched_files"] == ["CS101-lab1/extra.py"]


# Canvas's names.

def test_canvas_export_with_stray_files_and_a_folder_stays_canvas(tmp_path):
    write(tmp_path / "doejane_12345_67890_server.py", SERVER)
    write(tmp_path / "doejane_12345_67891_client.py", CLIENT)
    write(tmp_path / "smithjohn_222_333_server.py", SERVER)
    write(tmp_path / "Lab 1 handout.pdf", "x")
    write(tmp_path / "solution.py", SERVER)
    write(tmp_path / "graded" / "doejane.txt", "x")
    found = discover(tmp_path)
    assert found.layout == CANVAS
    assert [s.student for s in found.submissions] == ["doejane", "smithjohn"]
    assert [p.name for p in found.ignored] == ["Lab 1 handout.pdf"]
    assert sorted(p.name for p in found.unmatched) == ["doejane.txt", "solution.py"]


@pytest.mark.parametrize("name, expected", [
    ("lastfirst_late_12345_67890_server.py", ("12345", "lastfirst", True, "server.py")),
    ("lastfirst_LATE_12345_67890_server.py", ("12345", "lastfirst", True, "server.py")),
    ("o_brien_mary_12345_67890_server-1.py", ("12345", "o_brien_mary", False, "server-1.py")),
    ("smith-jones_12345_67890_lab_1_client.py", ("12345", "smith-jones", False, "lab_1_client.py")),
    ("group3_777_888_server.py", ("777", "group3", False, "server.py")),  # a group's submitter
    ("doejane_12345_text.html", ("12345", "doejane", False, "text.html")),
    ("anon_x7Kq2_67890_server.py", ("anon_x7Kq2", "Anonymous x7Kq2", False, "server.py")),
    ("LATE_anon_x7Kq2_67890_my_client.py", ("anon_x7Kq2", "Anonymous x7Kq2", True, "my_client.py")),
    ("lab_1_handout.pdf", None),
    ("grades_2024_fall.csv", None),
])
def test_canvas_file_names(name, expected):
    parsed = canvas_file(name)
    assert (parsed and (parsed.group, parsed.student, parsed.late, parsed.original)) == expected


def test_anonymous_canvas_export_groups_each_students_files_and_reads_late(tmp_path):
    write(tmp_path / "anon_x7Kq2_67890_server.py", SERVER)
    write(tmp_path / "anon_x7Kq2_67891_client.py", CLIENT)
    write(tmp_path / "LATE_anon_Bn4tR_555_server.py", SERVER)
    write(tmp_path / "LATE_anon_Bn4tR_556_client-1.py", CLIENT)
    write(tmp_path / "LATE_anon_Bn4tR_557_client.py", CLIENT)
    out = tmp_path / "out"
    code, stdout, stderr = _run(tmp_path, out)
    assert code == 0, stderr
    assert stdout.startswith("Found 2 students (Canvas export, in ")
    students = {s["key"]: s for s in json.loads((out / "results.json").read_text())["students"]}
    assert set(students) == {"anon_x7Kq2", "anon_Bn4tR"}
    late, on_time = students["anon_Bn4tR"], students["anon_x7Kq2"]
    assert [on_time["roles"][r]["state"] for r in ("server", "client")] == ["graded", "graded"]
    assert on_time["student"] == "Anonymous x7Kq2" and on_time["late"] is False
    assert late["late"] is True and late["people"][0]["sid"] == ""  # no Canvas user id to give
    assert any("anonymous" in n for n in late["notes"])
    found = discover(tmp_path, skip=out)
    newest = next(s for s in found.submissions if s.key == "anon_Bn4tR")
    assert newest.shown(newest.files["client"]) == "client-1.py"  # Canvas's resubmission


# A layout that makes one student of a whole class.

def _one_folder_of_programs(root: Path, count: int) -> Path:
    for i in range(count):
        write(root / "lab1" / f"student{i}_server.py", SERVER)
    return root


def test_one_student_with_many_programs_is_refused_unless_asked(tmp_path):
    subs = _one_folder_of_programs(tmp_path / "subs", 8)
    found = discover(subs)
    assert len(found.submissions) == 1 and "8 Python files" in suspicious(found)
    code, stdout, stderr = _run(subs, tmp_path / "out")
    assert code == BAD_INPUT and stdout == ""
    assert "Found 1 student (lab1" in stderr and "--single-student" in stderr
    assert not (tmp_path / "out").exists()  # nothing graded, nothing written
    code, stdout, _ = _run(subs, tmp_path / "out", single_student=True)
    assert code == 0 and stdout.startswith("Found 1 student (one folder per student")


def test_one_student_with_a_few_programs_is_graded_as_usual(tmp_path):
    subs = _one_folder_of_programs(tmp_path / "subs", 4)
    assert suspicious(discover(subs)) is None
    code, _, _ = _run(subs, tmp_path / "out")
    assert code == 0
