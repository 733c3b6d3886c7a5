"""Gradescope: the autograder zip, and a run against a fake /autograder folder.

As root (CI), student programs must run as another user: the tests use a spare uid that no
account and no process has, so they need no ``useradd`` and stop nothing of anyone else's.
"""
import io
import json
import os
import random
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.integrations.gradescope.build import build_autograder
from grader.integrations.gradescope.run import run_in_gradescope
from test_batch_support import fake_grade, text_render

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
AS_ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def spare_uid() -> int:
    """A uid with no account and no process: what the student's programs run as in a test."""
    import pwd

    taken = {e.pw_uid for e in pwd.getpwall()} | {e.pw_gid for e in pwd.getpwall()}
    for entry in os.listdir("/proc"):
        try:
            taken.add(os.stat("/proc/" + entry).st_uid)
        except OSError:
            pass
    rng = random.Random()
    while True:
        uid = rng.randrange(42000, 59000)
        if uid not in taken:
            return uid


def student_kwargs() -> dict:
    return {"student": spare_uid()} if AS_ROOT else {}


def python_for(uid: int) -> str:
    """An interpreter another user can run: this one, unless it sits in a private folder
    (pyenv under /root), then the system's."""
    path = Path(sys.executable)
    if all(os.stat(p).st_mode & 0o001 for p in path.parents):
        return sys.executable
    system = Path("/usr/bin/python3")
    check = [str(system), "-c", "import sys; sys.exit(sys.version_info < (3, 9))"]
    if system.exists() and subprocess.run(check, user=uid, group=uid, extra_groups=[]).returncode == 0:
        return str(system)
    pytest.skip("no Python that another user can run (needed to run programs as the student)")


def cli(**extra):
    """The interpreter and environment to run ``python -m grader gradescope run`` with: as
    root, the programs run as a spare uid (where there is no sandbox) and must reach Python."""
    env = dict(os.environ, **extra)
    if not AS_ROOT:
        return sys.executable, env
    uid = spare_uid()
    env["GRADER_STUDENT_USER"] = str(uid)
    return python_for(uid), env


def test_zip_has_the_scripts_at_its_root_executable_and_the_grader(tmp_path):
    archive = build_autograder(tmp_path / "autograder.zip")
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        for script in ("setup.sh", "run_autograder"):
            assert script in names
            mode = zf.getinfo(script).external_attr >> 16
            assert mode & stat.S_IXUSR, script
            assert zf.read(script).startswith(b"#!/usr/bin/env bash\n")
        assert "grader/__main__.py" in names and "grader/running/probe/bootstrap.py" in names
        assert "grader/integrations/gradescope/run.py" in names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert b'gradescope run --root "$root"' in zf.read("run_autograder")
        assert b"root=${GRADER_AUTOGRADER_ROOT:-/autograder}" in zf.read("run_autograder")


def _autograder(tmp_path, files):
    root = tmp_path / "autograder"
    for name, content in files.items():
        target = root / "submission" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    (root / "submission").mkdir(parents=True, exist_ok=True)
    return root


def _results(root):
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def test_results_follow_gradescopes_format(tmp_path):
    root = _autograder(tmp_path, {"server.py": "# fail server.closes\n", "client.py": "# pass\n"})
    assert run_in_gradescope(root, grade=fake_grade, render=text_render, log=io.StringIO(),
                             **student_kwargs()) == 0
    data = _results(root)
    assert data["score"] == 19
    assert len(data["tests"]) == 16
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "visibility"}
        assert test["status"] in ("passed", "failed")
    closes = next(t for t in data["tests"] if "[server.closes]" in t["name"])
    assert closes["status"] == "failed" and closes["score"] == 0 and "Hint:" in closes["output"]
    assert data["test_output_format"] == "text"  # students' output is never rendered as HTML


def test_missing_role_and_grader_bug_still_write_results(tmp_path):
    root = _autograder(tmp_path, {"my_client.py": "# pass\n"})
    run_in_gradescope(root, grade=fake_grade, render=text_render, log=io.StringIO(), **student_kwargs())
    data = _results(root)
    assert data["score"] == 9
    server_tests = [t for t in data["tests"] if "[server." in t["name"]]
    assert server_tests and all(t["score"] == 0 for t in server_tests)
    assert "No server program was found" in server_tests[0]["output"]

    def broken(role, path):
        raise RuntimeError("boom")

    root2 = _autograder(tmp_path / "b", {"server.py": "x", "client.py": "y"})
    log = io.StringIO()
    run_in_gradescope(root2, grade=broken, render=text_render, log=log, **student_kwargs())
    data = _results(root2)
    assert all(t["score"] == 0 for t in data["tests"])
    assert "grader bug" in data["tests"][0]["output"]

    def crashes_everything(*a, **k):
        raise ValueError("bad")

    root3 = _autograder(tmp_path / "c", {"server.py": "x"})
    log = io.StringIO()
    run_in_gradescope(root3, grade=fake_grade, render=crashes_everything, log=log,
                      **student_kwargs())
    assert "not in your files" in _results(root3)["output"] and "Traceback" in log.getvalue()


def test_run_command_grades_real_programs_in_a_fake_autograder_folder(tmp_path):
    root = _autograder(tmp_path, {
        "server.py": (FIXTURES / "server" / "correct_with_blocks.py").read_bytes(),
        "client.py": (FIXTURES / "client" / "prints_bytes.py").read_bytes(),
    })
    python, env = cli(PYTHONPATH=str(ROOT))
    run = subprocess.run([python, "-m", "grader", "gradescope", "run", "--root", str(root)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    data = _results(root)
    assert data["score"] < 20 and data["score"] >= 11
    message = next(t for t in data["tests"] if "[client.prints_message]" in t["name"])
    assert message["status"] == "failed" and message["output"]


def test_built_zip_runs_like_gradescope_would(tmp_path):
    """Unpack the zip as /autograder/source and run its run_autograder script's command."""
    archive = build_autograder(tmp_path / "autograder.zip")
    source = tmp_path / "autograder" / "source"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(source)
    root = _autograder(tmp_path, {"server.py": (FIXTURES / "server" / "correct_with_blocks.py").read_bytes()})
    python, env = cli()
    env.pop("PYTHONPATH", None)
    run = subprocess.run([python, "-m", "grader", "gradescope", "run", "--root", str(root)],
                         cwd=source, env=env, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert _results(root)["score"] == 11  # the server graded from the zip's own copy of the grader


def test_run_outside_gradescope_says_what_to_do_and_writes_nothing(tmp_path):
    log = io.StringIO()
    assert run_in_gradescope(tmp_path / "nowhere", grade=fake_grade, log=log) == 2
    assert "no submission folder" in log.getvalue() and not (tmp_path / "nowhere").exists()


def test_the_scripts_are_valid_bash_and_make_the_student_user(tmp_path):
    archive = build_autograder(tmp_path / "autograder.zip")
    with zipfile.ZipFile(archive) as zf:
        setup, run_autograder = zf.read("setup.sh").decode(), zf.read("run_autograder").decode()
    for script in (setup, run_autograder):
        assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert "useradd" in setup and "grader-student" in setup and 'chmod -R go-w "$root/source"' in setup


def test_links_planted_in_the_results_folder_are_replaced_not_followed(tmp_path):
    root = _autograder(tmp_path, {"server.py": "# pass\n"})
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (root / "results").mkdir()
    (root / "results" / "results.json").symlink_to(victim)
    run_in_gradescope(root, grade=fake_grade, render=text_render, log=io.StringIO(), **student_kwargs())
    assert victim.read_text() == "precious" and not (root / "results" / "results.json").is_symlink()
    assert _results(root)["score"] == 11

    (tmp_path / "elsewhere").mkdir()
    root2 = _autograder(tmp_path / "b", {"server.py": "# pass\n"})
    (root2 / "results").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    run_in_gradescope(root2, grade=fake_grade, render=text_render, log=io.StringIO(), **student_kwargs())
    assert (root2 / "results").is_dir() and not (root2 / "results").is_symlink()
    assert _results(root2)["score"] == 11 and list((tmp_path / "elsewhere").iterdir()) == []


def test_a_grading_that_never_ends_is_stopped_and_says_so(tmp_path):
    root = _autograder(tmp_path, {"server.py": "# sleep 30\n"})
    log = io.StringIO()
    assert run_in_gradescope(root, grade=fake_grade, render=text_render, log=log, time_limit=0.5,
                             **student_kwargs()) == 0
    data = _results(root)
    assert data["tests"] == [] and "stopped before it finished" in data["output"]
    assert "time limit" in log.getvalue()


def test_links_in_the_submission_are_not_graded(tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("# pass\n")
    root = _autograder(tmp_path, {"client.py": "# pass\n"})
    (root / "submission" / "server.py").symlink_to(secret)
    run_in_gradescope(root, grade=fake_grade, render=text_render, log=io.StringIO(), **student_kwargs())
    data = _results(root)
    assert data["score"] == 9 and "server.py is a link, not a file" in data["output"]


@pytest.mark.skipif(not AS_ROOT, reason="only root can run the programs as another user")
def test_as_root_without_the_student_user_nothing_runs(tmp_path):
    root = _autograder(tmp_path, {"server.py": "# pass\n"})
    log = io.StringIO()
    run_in_gradescope(root, grade=fake_grade, render=text_render, log=log,
                      student="no-such-user-for-grader-tests")
    assert _results(root)["score"] == 0 and "setup.sh" in log.getvalue()
    assert "not set up correctly" in _results(root)["output"]
