"""Finding students in each export layout, and refusing malformed input with clear advice."""
import io
import json
import os
import stat
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from grader.batch import confine, source
from grader.batch.discover import CANVAS, FOLDERS, GRADESCOPE, discover
from grader.batch.run import BatchOptions, run_batch
from grader.running.inputs import InputError
from test_batch_support import fake_grade, write


def test_folder_per_student(tmp_path: Path):
    write(tmp_path / "alice" / "server.py")
    write(tmp_path / "alice" / "client.py")
    write(tmp_path / "bob" / "lab" / "Server (1).py")  # nested folder, spaces in the name
    write(tmp_path / "stray.py")
    found = discover(tmp_path)
    assert found.layout == FOLDERS
    assert [s.student for s in found.submissions] == ["alice", "bob"]
    assert set(found.submissions[0].files) == {"server", "client"}
    assert set(found.submissions[1].files) == {"server"}
    assert [p.name for p in found.unmatched] == ["stray.py"]


def test_wrapping_folder_and_os_clutter_are_skipped(tmp_path: Path):
    write(tmp_path / "export" / "alice" / "server.py")
    write(tmp_path / "export" / "alice" / ".DS_Store", "x")
    write(tmp_path / "__MACOSX" / "export" / "._alice", "x")
    found = discover(tmp_path)
    assert [s.student for s in found.submissions] == ["alice"]
    assert found.submissions[0].extra == () and found.unmatched == ()


def test_canvas_export_groups_files_per_student_and_reads_late(tmp_path: Path):
    write(tmp_path / "doejane_12345_67890_server.py")
    write(tmp_path / "doejane_12345_67891_client.py")
    write(tmp_path / "smith john_late_222_333_Server-1.py")
    write(tmp_path / "smith john_late_222_334_Server.py")
    write(tmp_path / "readme.txt")
    found = discover(tmp_path)
    assert found.layout == CANVAS
    jane, john = found.submissions
    assert (jane.student, jane.late, set(jane.files)) == ("doejane", False, {"server", "client"})
    assert (john.student, john.late) == ("smith john", True)
    assert john.shown(john.files["server"]) == "Server-1.py"  # the newest resubmission
    assert [john.shown(p) for p in john.extra] == ["Server.py"]
    assert found.unmatched == () and [p.name for p in found.ignored] == ["readme.txt"]


def test_gradescope_export_names_students_from_metadata(tmp_path: Path):
    write(tmp_path / "submission_metadata.yml", (
        "submission_1:\n  :submitters:\n  - :name: Ana Núñez\n    :sid: '7'\n"
        "  - :name: Bo Li\n    :sid: '8'\n"
        "submission_2:\n  :submitters:\n  - :name: Cy\n    :sid: '9'\n"))
    write(tmp_path / "submission_1" / "server.py")
    write(tmp_path / "submission_1" / "client.py")
    write(tmp_path / "submission_3" / "client.py")  # not in the metadata
    found = discover(tmp_path)
    assert found.layout == GRADESCOPE
    by_key = {s.key: s for s in found.submissions}
    assert by_key["submission_1"].student == "Ana Núñez & Bo Li"
    assert [p.sid for p in by_key["submission_1"].people] == ["7", "8"]
    assert by_key["submission_2"].files == {}  # listed, no folder: both roles missing
    assert any("no folder" in n for n in by_key["submission_2"].notes)
    assert any("not named" in n for n in by_key["submission_3"].notes)


def test_output_folder_inside_the_submissions_is_ignored(tmp_path: Path):
    write(tmp_path / "alice" / "server.py")
    write(tmp_path / "grader-results" / "feedback" / "alice.txt")
    found = discover(tmp_path, skip=tmp_path / "grader-results")
    assert [s.student for s in found.submissions] == ["alice"]


def test_empty_folder_is_a_clear_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="No student submissions found.*empty"):
        discover(tmp_path)


def test_not_a_zip_is_a_clear_input_error(tmp_path: Path):
    fake = write(tmp_path / "submissions.zip", "<html>Session expired</html>")
    with pytest.raises(InputError, match="not a folder or a zip archive"):
        with source.opened(fake):
            pass


def test_missing_path_is_a_clear_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="does not exist"):
        with source.opened(tmp_path / "nope.zip"):
            pass


def test_zip_with_non_ascii_names_and_escaping_members(tmp_path: Path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("class/Zoë Ångström/server.py", "# pass\n")
        zf.writestr("class/李雷/client.py", "# pass\n")
        zf.writestr("../evil.py", "# must never be written outside\n")
        zf.writestr("/class/README.txt", "an absolute name is unpacked inside the folder\n")
    with source.opened(archive) as root:
        found = discover(root)
        assert sorted(s.student for s in found.submissions) == ["Zoë Ångström", "李雷"]
        assert not (root.parent / "evil.py").exists()
        assert found.unmatched == () and [p.name for p in found.ignored] == ["README.txt"]
        temp = root
    assert not temp.exists()  # the unpacked copy is removed


class _LegacyNameInfo(zipfile.ZipInfo):
    """Stores the name's UTF-8 bytes without the UTF-8 flag, as many zip tools do."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("utf-8"), self.flag_bits & ~0x800


def test_utf8_names_stored_without_the_flag_are_repaired(tmp_path: Path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(_LegacyNameInfo("José/server.py"), "# pass\n")
        zf.writestr(_LegacyNameInfo("Ana/server.py"), "# pass\n")
    with zipfile.ZipFile(archive) as zf:
        assert "José/server.py" not in zf.namelist()  # zipfile alone gets it wrong
    with source.opened(archive) as root:
        assert [s.student for s in discover(root).submissions] == ["Ana", "José"]


def test_single_student_folder_is_a_student_not_a_wrapper(tmp_path: Path):
    write(tmp_path / "alice" / "server.py")
    assert [s.student for s in discover(tmp_path).submissions] == ["alice"]


def test_a_zip_a_student_uploaded_to_canvas_is_unpacked_into_the_scratch_folder(tmp_path: Path):
    subs, scratch = tmp_path / "subs", tmp_path / "scratch"
    subs.mkdir()
    scratch.mkdir()
    with zipfile.ZipFile(subs / "doejane_12345_67890_Lab 1.zip", "w") as zf:
        zf.writestr("Lab 1/TCPServer.py", "s.listen(1)\nc, a = s.accept()\n")
        zf.writestr("Lab 1/TCPClient.py", "s.connect(('localhost', 12345))\n")
    jane, = discover(subs, scratch=scratch).submissions
    assert {role: jane.shown(p) for role, p in jane.files.items()} == {
        "server": "Lab 1.zip/Lab 1/TCPServer.py", "client": "Lab 1.zip/Lab 1/TCPClient.py"}
    assert all(scratch in p.parents for p in jane.files.values())
    # Without a scratch folder the zip stays one of her files, not graded.
    plain, = discover(subs).submissions
    assert plain.files == {} and [plain.shown(p) for p in plain.extra] == ["Lab 1.zip"]


# Links: a submission is read as files, never through a link out of the student's folder.

needs_links = pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32",
                                 reason="symbolic links need POSIX here")


def _link_class(tmp_path: Path) -> Path:
    """alice links to bob's server and to a TA file; her folder also holds two links to itself."""
    secret = write(tmp_path / "ta" / "secret.txt", "TA-SECRET first line\n")
    subs = tmp_path / "subs"
    write(subs / "bob" / "server.py", "# pass\n")
    write(subs / "bob" / "client.py", "# pass\n")
    (subs / "alice").mkdir()
    os.symlink("../bob/server.py", subs / "alice" / "server.py")
    os.symlink(secret, subs / "alice" / "client.py")
    os.symlink(".", subs / "alice" / "a")
    os.symlink(".", subs / "alice" / "b")
    return subs


def _discover_within(root: Path, seconds: float = 10, **kw):
    """discover(), failing instead of hanging when a walk never ends."""
    found = []
    worker = threading.Thread(target=lambda: found.append(discover(root, **kw)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "discovery did not end"
    return found[0]


@needs_links
def test_links_out_of_a_students_folder_are_not_followed_and_loops_end(tmp_path: Path):
    found = _discover_within(_link_class(tmp_path))
    alice, bob = found.submissions
    assert alice.files == {} and set(bob.files) == {"server", "client"}
    assert "client.py is a link to a file outside your submission; it was not graded" in alice.notes[0]
    assert "server.py is a link to a file outside your submission" in alice.notes[1]


@needs_links
def test_a_refused_link_is_a_missing_role_named_in_the_feedback(tmp_path: Path):
    out = tmp_path / "out"
    status = run_batch(_link_class(tmp_path), BatchOptions(out=out), stdout=io.StringIO(),
                       stderr=io.StringIO(), grade=fake_grade, show_progress=False)
    assert status == 0  # no error rows
    feedback = (out / "feedback" / "alice.txt").read_text(encoding="utf-8")
    assert "client.py is a link to a file outside your submission; it was not graded" in feedback
    everything = "".join(p.read_text(encoding="utf-8-sig") for p in out.rglob("*") if p.is_file())
    assert "TA-SECRET" not in everything
    alice = next(s for s in json.loads((out / "results.json").read_text())["students"]
                 if s["key"] == "alice")
    assert [alice["roles"][r]["state"] for r in ("server", "client")] == ["missing", "missing"]


@needs_links
def test_links_inside_the_students_folder_are_files_and_loops_and_pipes_are_said(tmp_path: Path):
    write(tmp_path / "dan" / "src" / "server.py", "s.listen(1)\n")
    os.symlink("src/server.py", tmp_path / "dan" / "server.py")  # the same file twice: once
    os.symlink("src/server.py", tmp_path / "dan" / "my_client.py")  # his file under a role's name
    os.symlink("y", tmp_path / "dan" / "x")
    os.symlink("x", tmp_path / "dan" / "y")
    os.symlink("/", tmp_path / "dan" / "root")
    os.mkfifo(tmp_path / "dan" / "pipe.py")
    dan, = _discover_within(tmp_path).submissions
    assert {r: dan.shown(p) for r, p in dan.files.items()} == {"server": "server.py",
                                                              "client": "my_client.py"}
    assert dan.origins == {}  # no scratch: graded where they are
    notes = "\n".join(dan.notes)
    assert "x is a link that leads nowhere" in notes and "y is a link that leads nowhere" in notes
    assert "root is a link to a folder outside your submission" in notes
    assert "pipe.py is not a regular file" in notes


@needs_links
def test_a_student_folder_that_is_a_link_is_listed_not_followed(tmp_path: Path):
    write(tmp_path / "bob" / "server.py")
    os.symlink("bob", tmp_path / "carol")  # carol would get bob's grade
    os.symlink(".", tmp_path / "everyone")
    found = _discover_within(tmp_path)
    assert [s.key for s in found.submissions] == ["bob"]
    assert [p.name for p in found.unmatched] == ["carol", "everyone"]


@needs_links
def test_links_in_canvas_and_gradescope_exports(tmp_path: Path):
    canvas = tmp_path / "canvas"
    write(canvas / "doejane_12345_67890_server.py")
    os.symlink("doejane_12345_67890_server.py", canvas / "smithjohn_222_333_server.py")
    jane, john = _discover_within(canvas).submissions
    assert set(jane.files) == {"server"} and john.files == {}
    assert "server.py is a link, not a file" in john.notes[0]

    gradescope = tmp_path / "gradescope"
    write(gradescope / "submission_metadata.yml", "submission_1:\n  :submitters:\n  - :name: Ana\n")
    write(gradescope / "submission_1" / "server.py")
    write(gradescope / "submission_2" / "notes.txt")
    os.symlink("../submission_1/server.py", gradescope / "submission_2" / "server.py")
    by_key = {s.key: s for s in _discover_within(gradescope).submissions}
    assert set(by_key["submission_1"].files) == {"server"} and by_key["submission_2"].files == {}
    assert any("server.py is a link to a file outside" in n for n in by_key["submission_2"].notes)


@needs_links
def test_the_file_graded_is_the_copy_read_when_it_was_checked(tmp_path: Path):
    subs, scratch = tmp_path / "subs", tmp_path / "scratch"
    scratch.mkdir()
    write(subs / "alice" / "lab" / "server.py", "# alice's own\n")
    write(tmp_path / "ta.txt", "TA-SECRET\n")
    alice, = discover(subs, scratch=scratch).submissions
    copy = alice.files["server"]
    assert scratch in copy.parents and alice.shown(copy) == "server.py"
    assert alice.origins[copy] == (subs / "alice" / "lab", "server.py")  # shown as alice/lab/server.py
    # A link swapped in after discovery changes nothing: the copy is what gets graded.
    (subs / "alice" / "lab" / "server.py").unlink()
    os.symlink(tmp_path / "ta.txt", subs / "alice" / "lab" / "server.py")
    assert copy.read_text() == "# alice's own\n"


@needs_links
def test_read_confined_refuses_links_out_and_pipes(tmp_path: Path):
    folder = tmp_path / "alice"
    write(folder / "server.py", "ok\n")
    write(tmp_path / "ta.txt", "TA-SECRET\n")
    os.symlink("server.py", folder / "again.py")
    os.symlink("../ta.txt", folder / "client.py")
    os.mkfifo(folder / "pipe.py")
    boundary = confine.real(folder)
    assert confine.read_confined(folder / "again.py", boundary) == b"ok\n"
    with pytest.raises(confine.LinkOut):
        confine.read_confined(folder / "client.py", boundary)
    with pytest.raises(OSError, match="not a regular file"):
        confine.read_confined(folder / "pipe.py", boundary)  # at once, not waiting for a writer


def test_deep_and_crowded_folders_are_walked_within_bounds(tmp_path: Path, monkeypatch):
    deep = tmp_path / "alice"
    for i in range(confine.MAX_DEPTH + 2):
        deep = deep / f"d{i}"
    write(deep / "server.py")
    write(tmp_path / "bob" / "server.py")  # alone, alice's folder would be taken for a wrapper
    alice, _ = discover(tmp_path).submissions
    assert alice.files == {} and any("folders deep" in n for n in alice.notes)
    monkeypatch.setattr(confine, "MAX_ENTRIES", 3)
    for i in range(4):
        write(tmp_path / "bob" / f"f{i}.txt")
    bob = next(s for s in discover(tmp_path).submissions if s.key == "bob")
    assert len(bob.extra) == 3 and any("first 3 files" in n for n in bob.notes)


def _zip_link(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode in external_attr counts
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def test_links_in_a_class_zip_and_in_a_students_zip_are_not_created(tmp_path: Path):
    inner = tmp_path / "lab.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("lab/client.py", "s.connect(('x', 1))\n")
        _zip_link(zf, "lab/server.py", "../../../../etc/hostname")
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("class/ann/client.py", "# pass\n")
        _zip_link(zf, "class/ann/server.py", "/etc/hostname")
        _zip_link(zf, "class/bo", "ann")
        zf.write(inner, "class/cy/lab.zip")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with source.opened(archive) as root:
        assert not any(p.is_symlink() for p in root.rglob("*"))
        found = discover(root, scratch=scratch)
        ann, cy = found.submissions
        assert set(ann.files) == {"client"} and set(cy.files) == {"client"}
        assert "server.py is a link in the zip, not a file" in ann.notes[0]
        assert any("lab.zip/lab/server.py is a link in the zip" in n for n in cy.notes)
        assert [p.name for p in found.unmatched] == ["bo"]
    assert not any(p.is_symlink() for p in scratch.rglob("*"))
