"""GitHub Classroom: what its reporter action makes of our grading, and the workflow we write.

``reporter_points`` re-implements, step for step, what the reporter
(classroom-resources/autograding-grading-reporter, src/main.js and src/notify-classroom.js) does
with its input: the ids in ``runners`` split on commas and whitespace, each one's environment
variable ``<ID upper-cased>_RESULTS`` decoded from base64 and parsed as JSON, then every test's
``score`` added up, and every runner's ``max_score``, a runner whose ``max_score`` is 0 or missing
counting for nothing.  ``step_outputs`` reads a step's output file as the Actions runner does.
The results fed to it come from really grading the fixture programs.
"""
from __future__ import annotations

import base64
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, ROOT, parse_fixture
from grader.exercises.default import HELLO_WORLD
from grader.report.classroom import output_line, render_classroom
from grader.report.safe_text import writable
from grader.judging.results import CheckResult, Report, Status

RUNNER_IDS = re.compile(r"^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$")  # the reporter's check of `runners`
EXPRESSION = re.compile(r"^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.result\s*\}\}$")


# --- the reporter, re-implemented -----------------------------------------------------------

def reporter_points(runners: str, env: dict) -> dict:
    """Points as the reporter posts them to Classroom, and whether it fails the run."""
    results = []
    for runner in filter(None, re.split(r"[\s,]", runners)):  # .split(/[\s,]/).filter(Boolean)
        encoded = env["%s_RESULTS" % runner.strip().upper()]
        # Buffer.from(encoded, "base64") skips what is not base64; .toString("utf-8"); JSON.parse
        results.append(json.loads(base64.b64decode(encoded, validate=False).decode("utf-8")))
    total = maximum = 0
    for result in results:
        if not result.get("max_score"):  # if (!results.max_score) return acc
            continue
        maximum += result["max_score"]
        for test in result["tests"]:
            score = test.get("score")  # undefined + number is NaN in JavaScript
            total += score if isinstance(score, (int, float)) and not isinstance(score, bool) \
                else math.nan
    failed = any(r.get("status") in ("fail", "error") for r in results)
    return {"points": total, "max": maximum, "failed": failed, "results": results}


def step_outputs(text: str) -> dict:
    """The outputs a step wrote to $GITHUB_OUTPUT: ``name=value`` lines, or ``name<<EOF``
    heredocs (the runner refuses any other line, which would fail the step)."""
    outputs, lines = {}, text.splitlines()
    while lines:
        line = lines.pop(0)
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            while lines[0] != delimiter:
                body.append(lines.pop(0))
            lines.pop(0)
            outputs[name] = "\n".join(body)
        else:
            assert "=" in line, "the runner refuses this output line: %r" % line
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def grade(role: str, path, *extra, cwd=ROOT):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "grader", role, str(path), "--format", "classroom",
                           *extra], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def role_points(role: str) -> int:
    return sum(spec.points for spec in HELLO_WORLD.specs(role))


def expected_points(fixture_path: Path, role: str) -> float:
    """What the fixture's docstring says it earns: the points of the checks it passes."""
    expect = parse_fixture(role, fixture_path).expect
    return sum(spec.points for spec in HELLO_WORLD.specs(role) if expect[spec.id] == "passed")


# --- the result of one grading ----------------------------------------------------------------

def test_partial_credit_arrives_as_the_sum_of_the_checks_passed():
    server = FIXTURES / "server" / "never_closes.py"
    client = FIXTURES / "client" / "never_closes.py"
    graded = {role: grade(role, path) for role, path in (("server", server), ("client", client))}
    for result in graded.values():
        assert result.returncode == 0, result.stderr  # a failed check must not fail the step
    env = {"%s_RESULTS" % role.upper(): step_outputs(r.stdout)["result"] for role, r in graded.items()}
    posted = reporter_points("server,client", env)
    want = expected_points(server, "server") + expected_points(client, "client")
    assert posted["points"] == want
    assert posted["max"] == role_points("server") + role_points("client")
    assert 0 < posted["points"] < posted["max"]  # partial: neither all nor nothing
    assert posted["failed"]  # the reporter marks the run as failed, the points stay
    closes = next(t for t in posted["results"][0]["tests"] if t["name"].startswith("server.closes"))
    assert closes["status"] == "fail" and closes["score"] == 0 and "close()" in closes["message"]
    # The student's log shows the usual checklist (stderr), not the encoded result.
    assert "FAIL  server.closes" in graded["server"].stderr


@pytest.mark.parametrize("role", ["server", "client"])
def test_full_marks_arrive_as_full_marks(role):
    result = grade(role, ROOT / "reference" / ("%s.py" % role))
    assert result.returncode == 0, result.stderr
    posted = reporter_points(role, {role.upper() + "_RESULTS": step_outputs(result.stdout)["result"]})
    assert posted["points"] == posted["max"] == role_points(role)
    assert not posted["failed"]
    assert [t["name"].split(":")[0] for t in posted["results"][0]["tests"]] == \
        [spec.id for spec in HELLO_WORLD.specs(role)]


def test_a_syntax_error_scores_zero_of_the_role_with_the_line():
    result = grade("server", FIXTURES / "server" / "syntax_error.py")
    assert result.returncode == 0, result.stderr
    posted = reporter_points("server", {"SERVER_RESULTS": step_outputs(result.stdout)["result"]})
    assert (posted["points"], posted["max"]) == (0, role_points("server"))
    runs = posted["results"][0]["tests"][0]
    assert runs["name"].startswith("server.runs") and "line 11" in runs["message"]


@pytest.mark.parametrize("name, content, said", [("missing.py", None, "no file"),
                                                  ("empty.py", "", "empty")])
def test_a_file_that_cannot_be_graded_scores_zero_of_the_role_with_the_reason(tmp_path, name,
                                                                                 content, said):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = grade("client", path)
    assert result.returncode == 0, result.stderr  # the other role and the reporter still run
    assert said in result.stderr
    posted = reporter_points("client", {"CLIENT_RESULTS": step_outputs(result.stdout)["result"]})
    assert (posted["points"], posted["max"]) == (0, role_points("client"))
    assert posted["failed"] and posted["results"][0]["status"] == "error"
    assert all(said in t["message"] for t in posted["results"][0]["tests"])


def test_other_formats_keep_their_exit_status(tmp_path):
    # Exit 0 on failure is for the classroom format only.
    env = dict(os.environ, NO_COLOR="1")
    text = subprocess.run([sys.executable, "-m", "grader", "client", str(tmp_path / "missing.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert text.returncode == 2 and text.stdout == ""


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_any_student_text_gives_one_output_line_the_reporter_reads(text):
    checks = []
    for spec in HELLO_WORLD.specs("client"):
        failed = spec.id == "client.prints_message"
        checks.append(CheckResult(spec.id, spec.description, Status.FAILED if failed else Status.PASSED,
                                  0 if failed else spec.points, spec.points,
                                  expected="Hello World!", actual=text, notes=(text,)))
    line = render_classroom([Report("client", "c.py", tuple(checks), stdout=text)])
    assert line.endswith("\n") and line.count("\n") == 1 and line.isascii()
    posted = reporter_points("client", {"CLIENT_RESULTS": step_outputs(line)["result"]})
    assert posted["points"] == role_points("client") - 2
    message = next(t for t in posted["results"][0]["tests"] if t["status"] == "fail")["message"]
    assert "happened: " + writable(text) in message  # lone surrogates shown as U+FFFD


def test_a_result_without_points_would_count_for_nothing():
    # Why max_score is always written: the reporter leaves out a runner without one.
    line = output_line({"version": 1, "status": "pass", "tests": [{"name": "a", "status": "pass",
                                                                   "score": 3}]})
    posted = reporter_points("x", {"X_RESULTS": step_outputs(line)["result"]})
    assert (posted["points"], posted["max"]) == (0, 0)


# --- the workflow -----------------------------------------------------------------------------

def write_workflow(out: Path, *options: str):
    return subprocess.run([sys.executable, "-m", "grader", "classroom", "workflow", "--out", str(out),
                           *options], cwd=ROOT, capture_output=True, text=True, timeout=60)


def steps_of(workflow: dict) -> list:
    return workflow["jobs"]["run-autograding-tests"]["steps"]


def reporter_step(workflow: dict) -> dict:
    return next(s for s in steps_of(workflow) if s.get("uses", "").startswith(
        "classroom-resources/autograding-grading-reporter@"))


def test_the_workflow_has_classrooms_shape_and_wires_every_step_to_the_reporter(tmp_path):
    out = tmp_path / ".github" / "workflows" / "classroom.yml"
    result = write_workflow(out)
    assert result.returncode == 0, result.stderr
    workflow = yaml.safe_load(out.read_text())
    assert workflow["name"] == "Autograding Tests"  # what Classroom looks for
    assert {"push", "workflow_dispatch"} <= set(workflow["on"])  # 'on', not YAML 1.1's True
    assert workflow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    job = workflow["jobs"]["run-autograding-tests"]
    assert job["if"] == "github.actor != 'github-classroom[bot]'" and job["timeout-minutes"] > 0
    assert any(s.get("uses", "").startswith("actions/setup-python@") and
               str(s["with"]["python-version"]).startswith("3") for s in job["steps"])
    reporter = reporter_step(workflow)
    runners = reporter["with"]["runners"]
    assert RUNNER_IDS.match(runners)
    ids = {s["id"] for s in job["steps"] if "id" in s}
    assert set(runners.split(",")) == {"server", "client"} <= ids
    for runner in runners.split(","):
        wired = EXPRESSION.match(reporter["env"]["%s_RESULTS" % runner.upper()])
        assert wired and wired.group(1) == runner
    assert steps_of(workflow)[-1] is reporter  # it runs after every grading step


def test_the_commands_grade_the_files_given(tmp_path):
    out = tmp_path / "classroom.yml"
    result = write_workflow(out, "--server", "src\\my_server.py", "--client", "my client.py",
                            "--timeout", "3")
    assert result.returncode == 0, result.stderr
    for step in steps_of(yaml.safe_load(out.read_text())):
        if step.get("id") in ("server", "client"):
            words = shlex.split(step["run"])
            assert words[:4] == ["python", "-m", "grader", step["id"]]
            assert words[4] == {"server": "src/my_server.py", "client": "my client.py"}[step["id"]]
            assert words[5:9] == ["--format", "classroom", "--timeout", "3"]
            assert words[-2:] == [">>", "$GITHUB_OUTPUT"]


def test_it_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "classroom.yml"
    out.write_text("mine\n")
    result = write_workflow(out)
    assert result.returncode == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert out.read_text() == "mine\n"
    assert write_workflow(out, "--force").returncode == 0
    assert yaml.safe_load(out.read_text())["name"] == "Autograding Tests"


@pytest.mark.parametrize("options, said", [
    (["--server", "../server.py"], "inside the repository"),
    (["--client", "/home/me/client.py"], "inside the repository"),
    (["--server=-x.py"], "inside the repository"),
    (["--grader-repo", "not a repo"], "OWNER/NAME"),
])
def test_bad_options_are_refused_and_nothing_is_written(tmp_path, options, said):
    out = tmp_path / "classroom.yml"
    result = write_workflow(out, *options)
    assert result.returncode == 2 and said in result.stderr
    assert not out.exists()


def run_workflow(workspace: Path, workflow: dict, tmp_path: Path) -> dict:
    """Run the workflow's `run` steps as the Actions runner would (bash -e, the step's own
    output file, `python` on PATH), then hand the reporter its env as the expressions say."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(os.environ, PATH="%s%s%s" % (bin_dir, os.pathsep, os.environ["PATH"]), NO_COLOR="1")
    outputs = {}
    for number, step in enumerate(steps_of(workflow)):
        if "run" not in step:
            continue
        output_file = tmp_path / ("output-%d" % number)
        output_file.write_text("")
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                              cwd=workspace / step.get("working-directory", "."),
                              env=dict(env, GITHUB_OUTPUT=str(output_file)),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        outputs[step["id"]] = step_outputs(output_file.read_text())
    reporter = reporter_step(workflow)
    reporter_env = {name: outputs[EXPRESSION.match(value).group(1)]["result"]
                    for name, value in reporter["env"].items()}
    return reporter_points(reporter["with"]["runners"], reporter_env)


def copy_grader(into: Path) -> None:
    shutil.copytree(ROOT / "grader", into / "grader", ignore=shutil.ignore_patterns("__pycache__"))


def test_the_vendored_workflow_run_gives_the_reference_full_marks(tmp_path):
    template = tmp_path / "template"
    template.mkdir()
    copy_grader(template)
    for role in ("server", "client"):
        shutil.copy(ROOT / "reference" / ("%s.py" % role), template / ("%s.py" % role))
    out = template / ".github" / "workflows" / "classroom.yml"
    assert write_workflow(out).returncode == 0
    posted = run_workflow(template, yaml.safe_load(out.read_text()), tmp_path)
    assert posted["points"] == posted["max"] == role_points("server") + role_points("client")
    assert not posted["failed"]


def test_the_checked_out_grader_workflow_run_gives_partial_credit(tmp_path):
    workspace = tmp_path / "workspace"
    out = tmp_path / "classroom.yml"
    assert write_workflow(out, "--grader-repo", "my-course/socket-grader", "--grader-ref", "v2",
                          "--server", "lab/server.py").returncode == 0
    workflow = yaml.safe_load(out.read_text())
    checkouts = [s for s in steps_of(workflow) if s.get("uses", "").startswith("actions/checkout@")]
    grader_checkout = next(s for s in checkouts if s["with"].get("repository"))
    assert (grader_checkout["with"]["repository"], grader_checkout["with"]["ref"]) == \
        ("my-course/socket-grader", "v2")
    # What the two checkouts would put in place:
    copy_grader(workspace / grader_checkout["with"]["path"])
    submission = workspace / next(s for s in checkouts if s is not grader_checkout)["with"]["path"]
    (submission / "lab").mkdir(parents=True)
    shutil.copy(FIXTURES / "server" / "never_closes.py", submission / "lab" / "server.py")
    shutil.copy(ROOT / "reference" / "client.py", submission / "client.py")
    posted = run_workflow(workspace, workflow, tmp_path)
    assert posted["points"] == expected_points(FIXTURES / "server" / "never_closes.py", "server") + \
        role_points("client")
    assert posted["max"] == role_points("server") + role_points("client")
