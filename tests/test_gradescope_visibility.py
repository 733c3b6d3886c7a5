"""Gradescope visibility and score-only: chosen at build time, applied by `gradescope run`,
and nothing held back leaks through another test or the top-level output."""
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.batch.outcome import GRADED, MISSING, RoleOutcome
from grader.integrations.gradescope.build import build_autograder
from grader.integrations.gradescope.results import gradescope_results
from grader.integrations.gradescope.run import run_in_gradescope
from grader.integrations.gradescope.visibility import CONFIG_NAME, Settings, check_ids, from_options, warnings
from grader.judging.results import CheckResult, Status
from test_batch_support import fake_grade, make_report, text_render
from test_gradescope import _autograder, _results, student_kwargs

ROOT = Path(__file__).resolve().parent.parent


def test_options_set_a_default_roles_and_single_checks():
    settings = from_options(["after_due_date", "client=visible", "client.closes=hidden",
                             "server.exits = after_published"])
    assert settings.of("server.runs") == "after_due_date"
    assert settings.of("server.exits") == "after_published"
    assert settings.of("client.runs") == "visible"
    assert settings.of("client.closes") == "hidden"  # a check wins over its role, in any order
    assert from_options(["client.closes=hidden", "client=visible"]).of("client.closes") == "hidden"
    assert from_options([]) == Settings() and not Settings().anything_held_back
    assert from_options(["hidden", "visible"]).of("server.runs") == "visible"  # the last wins


@pytest.mark.parametrize("choice, words", [
    ("server.closes=later", ["'later'", "after_due_date", "hidden"]),
    ("sever.closes=hidden", ["no check 'sever.closes'", "server.closes", "client.exits"]),
    ("everything", ["'everything'", "visible"]),
    ("=hidden", ["no check ''"]),
])
def test_bad_choices_are_refused_with_what_is_allowed(choice, words):
    with pytest.raises(ValueError) as error:
        from_options([choice])
    for word in words:
        assert word in str(error.value)


def test_build_command_refuses_bad_choices_and_writes_nothing(tmp_path):
    out = tmp_path / "a.zip"
    run = subprocess.run([sys.executable, "-m", "grader", "gradescope", "build", "--out", str(out),
                          "--visibility", "server.closes=invisible"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "not a Gradescope visibility" in run.stderr and not out.exists()
    run = subprocess.run([sys.executable, "-m", "grader", "gradescope", "build", "--out", str(out),
                          "--visibility", "server.closes=hidden", "--score-only"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "counts the points of 'hidden' tests" in run.stderr  # the total would tell
    stored = json.loads(zipfile.ZipFile(out).read(CONFIG_NAME))
    assert stored == {"visibility": {"default": "visible", "checks": {"server.closes": "hidden"}},
                      "score_only": True}


def test_hidden_warning_only_when_gradescope_would_show_the_total():
    assert list(warnings(from_options(["server.closes=hidden"])))
    assert not list(warnings(from_options(["server.closes=hidden", "client=after_due_date"])))
    assert not list(warnings(from_options(["client=after_published"])))


def _run_built(tmp_path, settings, files):
    """Build the zip with ``settings``, unpack it as /autograder/source, run a grading."""
    root = _autograder(tmp_path, files)
    with zipfile.ZipFile(build_autograder(tmp_path / "a.zip", settings)) as zf:
        zf.extractall(root / "source")
    log = io.StringIO()
    assert run_in_gradescope(root, grade=fake_grade, render=text_render, log=log,
                             **student_kwargs()) == 0
    return _results(root), log.getvalue()


def test_run_applies_the_visibility_stored_in_the_zip(tmp_path):
    settings = from_options(["after_published", "server.closes=hidden", "client=visible"])
    data, log = _run_built(tmp_path, settings, {"server.py": "# fail server.closes\n",
                                                "client.py": "# pass\n"})
    seen = {t["name"].rsplit("[", 1)[1].rstrip("]"): t["visibility"] for t in data["tests"]}
    assert seen == {c: settings.of(c) for c in check_ids()}
    assert data["visibility"] == "after_published"
    # The top-level output (shown with the total) has no per-check results when any is held
    # back; the instructor's stdout has them all.
    assert "server.closes" not in data["output"] and "graded server.py" in data["output"]
    assert "[failed] server.closes" in log and data["stdout_visibility"] == "hidden"


def test_all_visible_keeps_the_full_report_at_the_top(tmp_path):
    data, _ = _run_built(tmp_path, Settings(), {"server.py": "# fail server.closes\n"})
    assert "[failed] server.closes" in data["output"]
    assert all(t["visibility"] == "visible" for t in data["tests"])


def test_score_only_keeps_name_score_and_status_and_drops_the_details(tmp_path):
    data, log = _run_built(tmp_path, Settings(score_only=True),
                           {"server.py": "# fail server.closes\n"})
    closes = next(t for t in data["tests"] if "[server.closes]" in t["name"])
    assert closes["status"] == "failed" and closes["score"] == 0 and closes["max_score"] == 1
    assert "closes the connected socket" in closes["name"]  # the description stays
    assert not any("output" in t for t in data["tests"])
    assert "decode the bytes" not in json.dumps(data) and "[failed] server.closes" in log
    # Why a whole program was not graded concerns the files, not a check: it stays on top.
    assert "No client program was found" in data["output"]


def test_a_broken_settings_file_tells_the_instructor(tmp_path):
    root = _autograder(tmp_path, {"server.py": "# pass\n"})
    (root / "source").mkdir()
    (root / "source" / CONFIG_NAME).write_text('{"visibility": {"default": "sometimes"}}')
    log = io.StringIO()
    run_in_gradescope(root, grade=fake_grade, render=text_render, log=log, **student_kwargs())
    data = _results(root)
    assert data["tests"] == [] and "not set up correctly" in data["output"]
    assert "'sometimes' is not a Gradescope visibility" in log.getvalue()


def _outcomes(server_checks):
    report = make_report("server")._replace(checks=tuple(server_checks))
    return {"server": RoleOutcome("server", GRADED, report=report, file="server.py"),
            "client": RoleOutcome("client", MISSING, reason="no client file found")}


def _check(check_id, status, **fields):
    return CheckResult(check_id, "desc of " + check_id, status, 0.0, 1.0, **fields)


def test_no_test_names_or_tells_the_outcome_of_a_check_shown_later():
    checks = [
        _check("server.accepts", Status.FAILED, expected="a connection", actual="none"),
        _check("server.accepted_printed", Status.SKIPPED, reason="needs server.accepts to pass first"),
        _check("server.waiting_printed", Status.FAILED, expected="x",
               actual="the program interfered with the grader (see server.accepts)"),
    ]
    by_id = lambda doc: {t["name"].rsplit("[", 1)[1].rstrip("]"): t for t in doc["tests"]}

    held = by_id(gradescope_results(_outcomes(checks), settings=from_options(
        ["server.accepts=after_due_date"])))
    skipped = held["server.accepted_printed"]["output"]
    assert "server.accepts" not in skipped and "not shown yet" in skipped
    assert "server.accepts" not in held["server.waiting_printed"]["output"]
    assert "interfered with the grader" in held["server.waiting_printed"]["output"]
    assert held["server.accepts"]["output"].startswith("Expected: a connection")  # its own text

    # Shown together (or the referring test shown later still): the name stays.
    for choices in ([], ["server=after_due_date"], ["server.accepted_printed=hidden",
                                                     "server.waiting_printed=hidden",
                                                     "server.accepts=after_published"]):
        same = by_id(gradescope_results(_outcomes(checks), settings=from_options(choices)))
        assert "needs server.accepts to pass first" in same["server.accepted_printed"]["output"]
        assert "(see server.accepts)" in same["server.waiting_printed"]["output"]
    # after_due_date and after_published are not ordered: either may come first.
    crossed = by_id(gradescope_results(_outcomes(checks), settings=from_options(
        ["server.accepts=after_published", "server.accepted_printed=after_due_date"])))
    assert "server.accepts" not in crossed["server.accepted_printed"]["output"]


def test_a_skipped_check_gives_its_own_reason():
    checks = [_check("server.closes", Status.SKIPPED, reason="the server never called close")]
    doc = gradescope_results(_outcomes(checks))
    assert doc["tests"][0]["output"] == "Skipped: the server never called close"
