"""Finding students in each export layout, and refusing malformed input with clear advice."""
import zipfile
from pathlib import Path

import pytest

from grader.batch import source
from grader.batch.discover import CANVAS, FOLDERS, GRADESCOPE, discover
from grader.inputs import InputError
from test_batch_support import write


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
    assert [p.name for p in found.unmatched] == ["readme.txt"]


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
        assert [p.name for p in found.unmatched] == ["README.txt"]
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
