"""grader/judging/hosts.py: a host name the resolver says does not exist, and the note it gives."""
from __future__ import annotations

import pytest

from conftest import FIXTURES
from grader.judging import hosts
from grader.grading import grade_file

INVALID = "server-ip-address.invalid"  # RFC 6761: .invalid names never exist


def _resolver_answers() -> bool:
    return hosts.is_unknown(INVALID)


def test_addresses_and_known_names_are_not_unknown():
    for host in ("127.0.0.1", "::1", "fe80::1%lo", "localhost", "", "<broadcast>", None, 12345):
        assert not hosts.is_unknown(host), host


def test_a_name_that_does_not_exist_is_unknown():
    if not _resolver_answers():
        pytest.skip("this machine's resolver gives no definite answer for .invalid names")
    assert hosts.is_unknown(INVALID)


def test_a_placeholder_host_reaches_the_reference_and_gets_a_note():
    report = grade_file("client", FIXTURES / "client" / "placeholder_host.py")
    assert report.full_marks
    noted = any(INVALID in note and "would fail" in note for note in report.notes)
    assert noted == _resolver_answers(), report.notes
