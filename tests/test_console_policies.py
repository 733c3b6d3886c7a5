"""The console policies (README "Policies"), graded end to end: stderr counts (1), a phrase within a
line counts (2), text written without a newline counts where it was written (3), and everything a
report quotes is bounded (10).  The fixtures' verdicts are in tests/test_fixtures.py; these tests
look at what the student is told."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grader.grading import GradeOptions, grade_file
from grader.report import render
from grader.report.bounds import OUTPUT_CHARS, QUOTE_CHARS, TIMELINE_ENTRIES, bounded, output, quoted
from grader.judging.results import CheckResult, Report, Status, TimelineEntry

FIXTURES = Path(__file__).parent / "fixtures"


def grade(role, name, strict=False):
    return grade_file(role, FIXTURES / role / name, GradeOptions(strict=strict))


def notes(report, check_id):
    return " ".join(report.check(check_id).notes)


def test_lines_on_stderr_count_with_a_note_that_print_writes_to_stdout():
    report = grade("server", "console_logging_stderr.py")
    for check_id in ("server.waiting_printed", "server.accepted_printed", "server.sent_printed"):
        assert report.check(check_id).passed
        assert "stderr" in notes(report, check_id) and "print() writes to stdout" in notes(report, check_id)


def test_the_message_printed_to_stderr_counts():
    report = grade("client", "prints_to_stderr.py")
    assert report.full_marks
    assert "stderr" in notes(report, "client.connecting_printed")
    assert "stderr" in notes(report, "client.prints_message")


@pytest.mark.parametrize("strict", [False, True])
def test_a_line_containing_the_phrase_passes_with_a_note_but_not_with_strict(strict):
    report = grade("server", "lines_with_prefix_and_extras.py", strict=strict)
    for check_id in ("server.waiting_printed", "server.accepted_printed", "server.sent_printed"):
        check = report.check(check_id)
        if strict:
            assert check.status is Status.FAILED and "--strict" in check.hint
        else:
            assert check.passed and "with more text around it" in notes(report, check_id)
    if not strict:
        assert "[SERVER] Waiting for connection..." in notes(report, "server.waiting_printed")


def test_text_without_a_newline_counts_where_it_was_written_and_glued_lines_get_a_note():
    report = grade("server", "no_newline_between_steps.py")
    assert report.full_marks
    assert "ran together" in notes(report, "server.accepted_printed")
    assert "end each line with a newline" in notes(report, "server.accepted_printed")
    # The line was completed only after accept(): it was not on the console before the call.
    late = grade("server", "end_empty_after_the_call.py").check("server.waiting_printed")
    assert late.status is Status.FAILED and "after the accept() call" in late.actual


def test_another_handout_line_is_never_offered_as_the_closest_line():
    check = grade("client", "prints_the_other_roles_line.py").check("client.waiting_printed")
    assert check.status is Status.FAILED
    assert "closest" not in check.actual and 'Add print("Waiting for reply...")' in check.hint


def test_a_flooding_server_is_quoted_within_bounds_with_its_full_size():
    report = grade("server", "floods_the_socket.py")
    actual = report.check("server.sends_message").actual
    # The reference client keeps about the first 64 KB it receives: that is what is quoted from.
    assert re.search(r"\[cut: 6\d,\d{3} characters in all\]", actual) and len(actual) < QUOTE_CHARS + 100
    assert len(report.stdout) < OUTPUT_CHARS + 200 and "of 100,070 characters" in report.stdout.splitlines()[-1]
    data = json.loads(render("json", [report]))
    assert max(len(e["text"]) for e in data["timeline"]) < QUOTE_CHARS + 50
    assert len(render("json", [report])) < 4 * OUTPUT_CHARS  # was megabytes


def test_bounds_state_the_full_size_and_leave_short_text_alone():
    assert quoted("Hello World!") == "Hello World!"
    assert quoted("x" * (QUOTE_CHARS + 20)) == "x" * (QUOTE_CHARS + 20)  # no shorter when cut
    assert quoted("x" * 1000) == "x" * QUOTE_CHARS + "... [cut: 1,000 characters in all]"
    assert output("short\n") == "short\n"
    cut = output("z" * (OUTPUT_CHARS + 500))
    assert cut.startswith("z" * OUTPUT_CHARS) and "%s characters" % format(OUTPUT_CHARS + 500, ",") in cut


def test_every_text_of_a_report_is_bounded():
    huge = "q" * 100_000
    check = CheckResult("server.runs", "d", Status.FAILED, 0, 1, expected=huge, actual=huge, hint=huge,
                        notes=(huge,))
    report = Report("server", "f.py", (check,), stdout=huge, stderr=huge, notes=(huge,),
                    timeline=tuple(TimelineEntry(0.0, "output", huge) for _ in range(TIMELINE_ENTRIES + 7)))
    small = bounded(report)
    text = json.dumps(small.to_dict())
    assert len(text) < 250_000 and "100,000 characters in all" in text
    assert len(small.timeline) == TIMELINE_ENTRIES + 1 and "7 more entries" in small.timeline[-1].text
    assert bounded(small) == bounded(bounded(small))  # cutting twice changes nothing more
