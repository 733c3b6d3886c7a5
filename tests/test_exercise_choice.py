"""--exercise for the class-wide paths: the batch, the Gradescope zip and the Classroom workflow
grade in the exercise chosen, and every output uses its checks and names it."""
import csv
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import yaml

from grader.exercises.default import HELLO_WORLD, ROLES
from grader.exercises.loader import find_exercise
from test_classroom import copy_grader, run_workflow, steps_of, write_workflow
from test_gradescope import _autograder, _results, cli

ROOT = Path(__file__).resolve().parent.parent
ECHO = find_exercise("echo")
ECHO_FIXTURES = ROOT / "tests" / "fixtures" / "echo"


def _ids(exercise):
    return [spec.id for role in ROLES for spec in exercise.specs(role)]


def _points(exercise, role=None):
    return sum(spec.points for r in ROLES if role in (None, r) for spec in exercise.specs(r))


def _run(*args, timeout=180):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _class(tmp_path):
    """Three students of the echo lab: the reference, a hard-coded echo, and a missing server."""
    students = {
        "Ada Full": {"server.py": ROOT / "reference" / "echo" / "server.py",
                     "client.py": ROOT / "reference" / "echo" / "client.py"},
        "Bo Fixed": {"server.py": ECHO_FIXTURES / "server" / "hardcoded_reply.py",
                     "client.py": ROOT / "reference" / "echo" / "client.py"},
        "Cy Half": {"client.py": ROOT / "reference" / "echo" / "client.py"},
    }
    root = tmp_path / "submissions"
    for name, files in students.items():
        (root / name).mkdir(parents=True)
        for file_name, source in files.items():
            shutil.copy(source, root / name / file_name)
    return root


def _grades(out):
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig"))))


def test_a_batch_in_echo_uses_echos_checks_everywhere_and_another_exercise_regrades(tmp_path):
    submissions, out = _class(tmp_path), tmp_path / "out"
    common = ("--out", out, "--no-sandbox", "-j", "6", "--format", "junit")
    run = _run("batch", submissions, *common, "--exercise", "echo")
    assert run.returncode == 0, run.stderr
    assert "(TCP Echo)" in run.stdout  # the summary names the exercise

    rows = {r["student"]: r for r in _grades(out)}
    header = list(next(iter(rows.values())))
    assert [h for h in header if "." in h] == _ids(ECHO)  # the check columns, in order
    assert all(float(r["max"]) == _points(ECHO) for r in rows.values())  # a missing role too
    assert float(rows["Ada Full"]["total"]) == _points(ECHO)
    assert float(rows["Bo Fixed"]["server.echoes"]) == 0 and float(rows["Bo Fixed"]["client_score"]) == \
        _points(ECHO, "client")
    assert rows["Cy Half"]["status"] == "missing" and float(rows["Cy Half"]["server_score"]) == 0

    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert document["exercise"] == {"name": "echo", "title": "TCP Echo"}
    cy = next(s for s in document["students"] if s["student"] == "Cy Half")
    assert cy["roles"]["server"]["max_score"] == _points(ECHO, "server")
    ada = next(s for s in document["students"] if s["student"] == "Ada Full")
    assert [c["id"] for c in ada["roles"]["server"]["report"]["checks"]] == \
        [s.id for s in ECHO.specs("server")]

    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert {s.get("name") for s in suites} >= {"Ada Full server", "Cy Half client"}
    for suite in suites:
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["exercise"] == "TCP Echo"
        role = suite.get("name").rsplit(" ", 1)[1]
        assert [c.get("name") for c in suite.iter("testcase")] == [s.id for s in ECHO.specs(role)]

    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<title>TCP Echo: class results</title>" in html
    assert 'data-check="server.echoes"' in html and 'data-check="server.sends_message"' not in html
    assert "TCP Echo" in (out / "feedback" / ada["feedback_file"]).read_text(encoding="utf-8")

    again = _run("batch", submissions, *common, "--exercise", "echo")
    assert again.returncode == 0 and "3 students unchanged" in again.stdout  # reused: same exercise

    hello = _run("batch", submissions, *common)  # no --exercise: Hello World, and everyone again
    assert hello.returncode == 0, hello.stderr
    assert "graded again" in hello.stdout and "unchanged" not in hello.stdout
    assert [h for h in _grades(out)[0] if "." in h] == _ids(HELLO_WORLD)
    assert json.loads((out / "results.json").read_text())["exercise"]["name"] == "hello"


def test_batch_refuses_an_unknown_exercise_before_grading(tmp_path):
    run = _run("batch", _class(tmp_path), "--out", tmp_path / "out", "--exercise", "nope")
    assert run.returncode == 2 and "unknown exercise 'nope'" in run.stderr
    assert not (tmp_path / "out").exists()


def _built_and_run(tmp_path, files, *build_options):
    archive = tmp_path / "autograder.zip"
    run = _run("gradescope", "build", "--out", archive, *build_options)
    assert run.returncode == 0, run.stderr
    root = _autograder(tmp_path, files)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root / "source")
    python, env = cli()
    env.pop("PYTHONPATH", None)  # the zip's own copy of the grader
    done = subprocess.run([python, "-m", "grader", "gradescope", "run", "--root", str(root)],
                          cwd=root / "source", env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return _results(root), archive


def test_a_gradescope_zip_built_for_echo_grades_with_echos_checks(tmp_path):
    files = {"server.py": (ECHO_FIXTURES / "server" / "hardcoded_reply.py").read_bytes()}
    data, archive = _built_and_run(tmp_path, files, "--exercise", "echo",
                                   "--visibility", "server.echoes=after_due_date")
    assert json.loads(zipfile.ZipFile(archive).read("gradescope.json"))["exercise"] == "echo"
    ids = [t["name"].rsplit("[", 1)[1].rstrip("]") for t in data["tests"]]
    assert ids == _ids(ECHO)  # the missing client: echo's client checks, at zero
    assert sum(t["max_score"] for t in data["tests"]) == _points(ECHO)
    echoes = next(t for t in data["tests"] if t["name"].endswith("[server.echoes]"))
    assert echoes["status"] == "failed" and echoes["visibility"] == "after_due_date"
    assert data["output"].startswith("Exercise: TCP Echo")


def test_visibility_is_checked_against_the_chosen_exercises_checks(tmp_path):
    run = _run("gradescope", "build", "--out", tmp_path / "a.zip", "--exercise", "echo",
               "--visibility", "server.sends_message=hidden")
    assert run.returncode == 2 and "no check 'server.sends_message'" in run.stderr
    assert "server.echoes" in run.stderr and not (tmp_path / "a.zip").exists()


def test_a_gradescope_zip_packs_an_exercise_folder_from_outside_the_grader(tmp_path):
    lab = tmp_path / "course" / "greeting"
    lab.mkdir(parents=True)
    data = json.loads((Path(ECHO.folder) / "exercise.json").read_text())
    data.update(name="greeting", title="Course Echo")
    data.pop("fixtures")
    data.pop("reference")
    data["template"] = ECHO.files["template"]  # absolute: outside the folder, so copied in
    (lab / "exercise.json").write_text(json.dumps(data))
    files = {"server.py": (ROOT / "reference" / "echo" / "server.py").read_bytes(),
             "client.py": (ROOT / "student_template" / "echo" / "client.py").read_bytes()}
    results, archive = _built_and_run(tmp_path, files, "--exercise", lab)
    names = zipfile.ZipFile(archive).namelist()
    assert {"exercise/exercise.json", "exercise/template-client.py"} <= set(names)
    assert results["output"].startswith("Exercise: Course Echo")
    server = [t for t in results["tests"] if "server" in t["tags"]]
    assert sum(t["score"] for t in server) == _points(ECHO, "server")
    # The blank template is recognised from the zip's copy: zero, and said so.
    assert sum(t["score"] for t in results["tests"] if "client" in t["tags"]) == 0
    assert "template" in results["output"]


def test_the_classroom_workflow_grades_the_exercise_given(tmp_path):
    template = tmp_path / "template"
    template.mkdir()
    copy_grader(template)
    shutil.copy(ROOT / "reference" / "echo" / "server.py", template / "server.py")  # no client.py
    out = template / ".github" / "workflows" / "classroom.yml"
    result = write_workflow(out, "--exercise", "echo")
    assert result.returncode == 0, result.stderr
    workflow = yaml.safe_load(out.read_text())
    for step in steps_of(workflow):
        if step.get("id") in ("server", "client"):
            assert shlex.split(step["run"])[-4:-2] == ["--exercise", "echo"]
    posted = run_workflow(template, workflow, tmp_path)
    # The missing client scores 0 of echo's client points, not Hello World's.
    assert (posted["points"], posted["max"]) == (_points(ECHO, "server"), _points(ECHO))
    tests = [t for result in posted["results"] for t in result["tests"]]
    assert all(t["test_code"].endswith("--exercise echo") for t in tests)
    assert {t["name"].split(":")[0] for t in tests} == set(_ids(ECHO))


def test_the_classroom_workflow_refuses_a_folder_and_says_what_to_do(tmp_path):
    out = tmp_path / "classroom.yml"
    result = write_workflow(out, "--exercise", str(Path(ECHO.folder)))
    assert result.returncode == 2 and "grader/exercises/<name>/" in result.stderr
    assert not out.exists()
