"""The program's console lines as the checks see them (grader/judging/checks/facts.py): a line of the
probe's log counts only if the captured standard output really shows it, in order."""
from __future__ import annotations

from grader.judging.checks.facts import _on_console
from grader.judging.matching import Line


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


def facts_of(events, stdout="", stderr=""):
    from types import SimpleNamespace

    from grader.judging.checks.facts import Facts

    stream = lambda text: SimpleNamespace(text=text)  # noqa: E731
    trace = SimpleNamespace(events=events, output=SimpleNamespace(stdout=stream(stdout), stderr=stream(stderr)))
    return Facts.of(trace)


def test_stderr_lines_count_when_the_captured_stderr_shows_them_in_log_order():
    events = [{"kind": "stderr", "text": "INFO:root:Waiting for connection...\n"},
              {"kind": "accept_call"},
              {"kind": "stdout", "text": "Connection request accepted!\n"},
              {"kind": "stderr", "text": "Message sent!\n"},
              {"kind": "stderr", "text": "forged\n"}]
    facts = facts_of(events, stdout="Connection request accepted!\n",
                     stderr="INFO:root:Waiting for connection...\nMessage sent!\nTraceback ...\n")
    assert [(line.text, line.stream, line.position) for line in facts.lines] == [
        ("INFO:root:Waiting for connection...", "stderr", 0),
        ("Connection request accepted!", "stdout", 2),
        ("Message sent!", "stderr", 3)]
    # A stderr line is checked against stderr only: stdout showing it is no proof.
    assert facts_of(events[:1], stdout="INFO:root:Waiting for connection...\n").lines == []


def test_each_write_keeps_its_position_and_a_call_between_writes_glues_the_line():
    events = [{"kind": "stdout", "text": "Waiting for connection..."},
              {"kind": "accept_call"}, {"kind": "accept_return"},
              {"kind": "stdout", "text": "Connection request accepted!"}, {"kind": "stdout", "text": "\n"},
              {"kind": "stdout", "text": "Message"}, {"kind": "stdout", "text": " sent!"}]
    facts = facts_of(events, stdout="Waiting for connection...Connection request accepted!\nMessage sent!")
    first, second = facts.lines
    assert first.writes == ((0, 0), (25, 3), (53, 4)) and first.glued
    assert second.text == "Message sent!" and second.writes == ((0, 5), (7, 6)) and not second.glued


def test_the_source_lines_a_traceback_quotes_are_not_printed_lines():
    traceback = ("Traceback (most recent call last):\n  File \"server.py\", line 9, in <module>\n"
                 "    print(\"Message sent!\", count)\n          ^^^^^\nNameError: name 'count' is not defined\n"
                 "  Message sent! (indented, after the traceback)\n")
    facts = facts_of([{"kind": "stderr", "text": traceback}], stderr=traceback)
    assert [line.text for line in facts.lines] == [
        "Traceback (most recent call last):", "NameError: name 'count' is not defined",
        "  Message sent! (indented, after the traceback)"]


def test_the_source_line_a_warning_quotes_is_not_a_printed_line():
    warning = ('server.py:9: DeprecationWarning: old\n  print("Message sent!", old())\nMessage sent!\n')
    facts = facts_of([{"kind": "stderr", "text": warning}], stderr=warning)
    assert [line.text for line in facts.lines] == ["server.py:9: DeprecationWarning: old", "Message sent!"]
