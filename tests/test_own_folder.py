"""A program runs in a bounded copy of its own folder (README policy 5): what sits next to it
(a helper module, a config file) is there, links and big or many files are not."""
from __future__ import annotations

import io
import json
import os
import shutil

import pytest

from conftest import FIXTURES, ROOT
from grader.running import launch
from grader.batch.run import BatchOptions, run_batch
from grader.grading import grade_file


@pytest.mark.parametrize("role, path", [
    ("server", FIXTURES / "server" / "imports_helper_module" / "server.py"),
    ("client", FIXTURES / "client" / "reads_config_file" / "client.py"),
])
def test_a_program_finds_the_files_next_to_it(role, path):
    assert grade_file(role, path).full_marks


def _folder(tmp_path):
    folder = tmp_path / "student"
    (folder / "data").mkdir(parents=True)
    (folder / "server.py").write_text("print('the original, not the copy')")
    (folder / "helper.py").write_text("X = 1")
    (folder / "data" / "words.txt").write_text("hello")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "helper.cpython-39.pyc").write_bytes(b"x")
    return folder


def _copied(run_folder):
    return sorted(os.path.relpath(os.path.join(base, name), run_folder)
                  for base, dirs, files in os.walk(run_folder) for name in dirs + files)


def test_the_copy_holds_the_folder_without_caches_links_or_the_program_itself(tmp_path):
    folder = _folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("the TA's")
    os.symlink(secret, folder / "notes.txt")
    os.symlink(tmp_path, folder / "up")
    target = tmp_path / "run"
    target.mkdir()
    notes = launch.copy_folder(folder, str(target), skip={"server.py"})
    assert _copied(target) == ["data", os.path.join("data", "words.txt"), "helper.py"]
    assert len(notes) == 1 and "notes.txt, up: links are not copied" in notes[0]


def test_big_files_and_crowded_folders_are_left_out_with_a_note(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    monkeypatch.setattr(launch, "FILE_BYTES", 100)
    monkeypatch.setattr(launch, "FOLDER_FILES", 3)
    (folder / "movie.mp4").write_bytes(b"0" * 101)
    for n in range(5):
        (folder / ("extra%d.txt" % n)).write_text("x")
    target = tmp_path / "run"
    target.mkdir()
    notes = launch.copy_folder(folder, str(target), skip={"server.py"})
    assert len(_copied(target)) == 3  # files and folders, breadth first
    assert any("movie.mp4: files over" in note for note in notes)
    assert any("more than the grader copies" in note for note in notes)


def test_a_huge_folder_is_looked_at_only_to_the_entries_cap(tmp_path, monkeypatch):
    # A Downloads folder with thousands of files: the work is bounded by entries, not bytes.
    folder = tmp_path / "downloads"
    folder.mkdir()
    for n in range(300):
        (folder / ("f%03d" % n)).write_bytes(b"")
    monkeypatch.setattr(launch, "FOLDER_ENTRIES", 50)
    target = tmp_path / "run"
    target.mkdir()
    notes = launch.copy_folder(folder, str(target))
    assert len(_copied(target)) <= 50 and any("more than the grader copies" in n for n in notes)


def test_started_program_carries_the_notes_and_runs_beside_its_files(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    os.symlink("/etc/hostname", folder / "link.txt")
    run = launch.start_program(folder / "server.py")
    try:
        assert "helper.py" in os.listdir(run.workdir)
        assert any("link.txt" in note for note in run.folder_notes)
    finally:
        run.discard()
    assert not os.path.exists(run.workdir)


def test_in_a_batch_the_program_runs_in_its_students_folder(tmp_path):
    student = tmp_path / "subs" / "ann"
    shutil.copytree(FIXTURES / "server" / "imports_helper_module", student)
    shutil.copytree(FIXTURES / "client" / "reads_config_file", student, dirs_exist_ok=True)
    out = tmp_path / "out"
    run_batch(tmp_path / "subs", BatchOptions(out=out, jobs=2), stdout=io.StringIO(),
              stderr=io.StringIO(), show_progress=False)
    roles = json.loads((out / "results.json").read_text())["students"][0]["roles"]
    assert {role: (o["state"], o["score"]) for role, o in roles.items()} == {
        "server": ("graded", 11.0), "client": ("graded", 9.0)}


def test_a_program_beside_the_grader_gets_none_of_the_graders_files(tmp_path):
    # The README has students run the grader in its own folder, with their program in it.
    program = ROOT / ("own_folder_test_%d.py" % os.getpid())
    shutil.copyfile(ROOT / "reference" / "server.py", program)
    try:
        run = launch.start_program(program)
        try:
            copied = set(os.listdir(run.workdir))
            assert program.name in copied and not copied & set(os.listdir(ROOT / "grader"))
            assert not copied & {"grader", "reference", "tests", "README.md", "docs"}
        finally:
            run.discard()
    finally:
        program.unlink()
