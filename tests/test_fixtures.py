"""Every fixture program, graded end to end, gets the verdicts its docstring declares."""
from __future__ import annotations

import pytest

from conftest import Fixture, all_fixtures
from grader.grading import GradeOptions, grade_file

SERVERS = all_fixtures("server")
CLIENTS = all_fixtures("client")


def test_the_corpus_is_large_enough():
    assert len(SERVERS) + len(CLIENTS) >= 30


def _check(fixture: Fixture) -> None:
    report = grade_file(fixture.role, fixture.path, GradeOptions(timeout=fixture.timeout))
    verdicts = {c.id: c.status.value for c in report.checks}
    assert verdicts == fixture.expect, _explain(report)
    for check_id, fragments in fixture.hints.items():
        result = report.check(check_id)
        text = " ".join(filter(None, (result.hint, result.actual)))
        for fragment in fragments:
            assert fragment in text, "%s: %r not in %r" % (check_id, fragment, text)
    for check in report.checks:
        if check.status.value == "failed":
            assert check.expected and check.actual, "%s fails without saying why" % check.id
        if check.status.value == "skipped":
            assert check.reason, "%s is skipped without a reason" % check.id


def _explain(report) -> str:
    from grader.report.text import render_text
    return render_text(report, verbose=True)


@pytest.mark.parametrize("fixture", SERVERS, ids=[f.name for f in SERVERS])
def test_server_fixture(fixture):
    _check(fixture)


@pytest.mark.parametrize("fixture", CLIENTS, ids=[f.name for f in CLIENTS])
def test_client_fixture(fixture):
    _check(fixture)
