"""The program's console lines as the checks see them (grader/checks/facts.py): a line of the
probe's log counts only if the captured standard output really shows it, in order."""
from __future__ import annotations

from grader.checks.facts import _on_console
from grader.matching import Line


def lines(*texts):
    return [Line(text, position) for position, text in enumerate(texts)]


def kept(log, captured):
    return [line.text for line in _on_console(lines(*log), captured)]


def test_a_line_the_console_never_showed_does_not_count():
    assert kept(["Waiting for connection...", "Hello World!"], "Waiting for connection...\n") == \
        ["Waiting for connection..."]


def test_lines_are_matched_in_order_each_once():
    assert kept(["b", "a", "b"], "a\nb\n") == ["b"]  # after "b", no "a" follows on the console
    assert kept(["x", "x"], "x\n") == ["x"]
    assert kept(["a", "b"], "a\r\nother\rb") == ["a", "b"]


def test_text_reads_back_as_the_console_captured_it():
    # A lone surrogate written with errors="surrogateescape" reaches the console as the byte it
    # stands for, which the capture shows as U+FFFD.
    assert kept(["caf\udce9"], "caf\ufffd\n") == ["caf\udce9"]
    assert kept(["form\x0cfeed"], "form\x0cfeed\n") == ["form\x0cfeed"]


def test_a_line_longer_than_all_the_output_is_dropped_without_work():
    assert kept(["x" * 1000], "x" * 10) == []
