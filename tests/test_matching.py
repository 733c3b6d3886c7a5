"""Line matching and message detection, with properties over arbitrary text."""
from __future__ import annotations

import string

from hypothesis import assume, given, strategies as st

from grader.judging.matching import (Line, contains_as_bytes_repr, contains_as_text, find_line, lines_match,
                             normalize)

EXPECTED = ["Waiting for connection...", "Connection request accepted!", "Message sent!",
            "Connecting to server...", "Waiting for reply..."]
expected_lines = st.sampled_from(EXPECTED)
whitespace = st.text(alphabet=" \t\r", max_size=3)
punctuation = st.text(alphabet=".!?,;:", max_size=3)


@given(expected_lines, whitespace, whitespace, punctuation, st.booleans())
def test_case_whitespace_and_trailing_punctuation_are_tolerated(expected, left, right, punct, upper):
    core = expected.rstrip(".!")
    printed = left + (core.upper() if upper else core.lower()) + punct + right
    assert lines_match(expected, printed)


@given(expected_lines, st.text(min_size=1, max_size=20))
def test_strict_matching_is_exact(expected, other):
    assert lines_match(expected, expected, strict=True)
    if other != expected:
        assert not lines_match(expected, other, strict=True) or other == expected + "\r"


@given(expected_lines, st.text(alphabet=string.ascii_letters, min_size=1, max_size=8))
def test_changed_words_do_not_match(expected, word):
    changed = expected.replace("connection", word + "x")
    if normalize(changed) != normalize(expected):
        assert not lines_match(expected, changed)


@given(st.lists(st.text(max_size=30), max_size=6), expected_lines, st.integers(0, 6))
def test_find_line_returns_the_first_match_in_order(noise, expected, index):
    lines = [Line(t, i) for i, t in enumerate(noise)]
    index = min(index, len(lines))
    lines.insert(index, Line(expected.lower(), 100))
    match = find_line(expected, lines)
    assert match is not None
    assert lines_match(expected, match.line.text)
    assert all(not lines_match(expected, line.text) for line in lines[:lines.index(match.line)])


message_text = st.text(alphabet=string.ascii_letters + string.digits + " !?.,", min_size=1, max_size=20)


@given(message_text, st.text(max_size=10), st.text(max_size=10))
def test_a_message_printed_as_text_is_found(message, before, after):
    assume("b'" not in before and 'b"' not in before)  # no bytes literal can enclose it
    assert contains_as_text(before + " " + message + " " + after, message)


@given(message_text)
def test_a_bytes_repr_is_not_the_message(message):
    shown = str(message.encode())  # what print(data) shows: b'...'
    assert not contains_as_text(shown, message)
    assert contains_as_bytes_repr(shown, message)


def test_examples():
    assert contains_as_text("Server says: Hello World!", "Hello World!")
    assert contains_as_text("'Hello World!'", "Hello World!")
    assert not contains_as_text("b'Hello World!'", "Hello World!")
    assert not contains_as_text("bytearray(b'Hello World!')", "Hello World!")
    assert contains_as_text("Bob's message: Hello World!", "Hello World!")
    assert not contains_as_text("Hello World", "Hello World!")


@given(st.text(alphabet=string.ascii_letters + string.digits + " !?.,", min_size=1, max_size=30))
def test_the_second_message_has_the_shape_of_the_first(message):
    from grader.grading import other_message_like

    other = other_message_like(message)
    assert other != message and other.strip()
    if any(ch.isalnum() for ch in message):
        assert len(other) == len(message)
        for a, b in zip(message, other):
            assert (a.isupper(), a.islower(), a.isdigit()) == (b.isupper(), b.islower(), b.isdigit())
            if not a.isalnum():
                assert a == b
        if message.title() == message:  # e.g. "Hello World!": .title() must not tell them apart
            assert other.title() == other


@given(expected_lines, st.lists(st.text(alphabet="Waitng forcuos.!  ", max_size=90), max_size=12))
def test_the_closest_line_search_prunes_nothing_that_could_win(expected, texts):
    import difflib

    from grader.judging.matching import CLOSE_ENOUGH, closest

    lines = [Line(t, i) for i, t in enumerate(texts)]
    best, best_ratio = None, CLOSE_ENOUGH  # brute force: every line, the full comparison
    for line in lines:
        ratio = difflib.SequenceMatcher(None, normalize(line.text), normalize(expected)).ratio()
        if ratio > best_ratio:
            best, best_ratio = line, ratio
    assert closest(expected, lines) == best


@given(expected_lines, st.sampled_from(["[SERVER] ", "client: ", "12:00:01 INFO ", ">> ", ""]),
       st.sampled_from(["", " ('127.0.0.1', 5123)", " (12 bytes)", "!!", " -> ok"]), st.booleans())
def test_a_line_containing_the_phrase_matches_tolerantly_not_strictly(expected, before, after, upper):
    text = before + (expected.upper() if upper else expected) + after
    line = Line(text, 0)
    found = find_line(expected, [line])
    assert found is not None and found.line == line
    assert found.whole == lines_match(expected, text) and found.exact == (text == expected)
    assert (find_line(expected, [line], strict=True) is not None) == (text == expected)


def test_a_phrase_is_not_part_of_another_word_or_other_wording():
    for expected, text in [("Message sent!", "Message sentinel ready"),
                           ("Waiting for connection...", "Waiting for connectionless peers"),
                           ("Message sent!", "Sent the message"),
                           ("Waiting for reply...", "Waiting for a reply"),
                           ("Connecting to server...", "Reconnecting to server_2")]:
        assert find_line(expected, [Line(text, 0)]) is None, text
    assert find_line("Message sent!", [Line("Message sent!Waiting", 0)]) is not None


def test_a_phrase_counts_where_its_last_character_was_written():
    # "Waiting for " written at 3, "connection...Connection request accepted!" at 7 and 8.
    line = Line("Waiting for connection...Connection request accepted!", 3, writes=((0, 3), (12, 7), (25, 8)),
                glued=True)
    assert find_line("Waiting for connection...", [line]).at == 7
    accepted = find_line("Connection request accepted!", [line])
    assert accepted.at == 8 and accepted.glued and not accepted.whole


def test_the_closest_line_is_close_and_never_another_handout_line():
    from grader.judging.matching import closest

    lines = [Line("Waiting for reply...", 0), Line("Message received", 1)]
    assert closest("Waiting for connection...", lines, EXPECTED) is None
    assert closest("Message sent!", lines, EXPECTED) is None  # 0.64 alike: unrelated
    assert closest("Waiting for connection...", [Line("Waiting for conection", 0)], EXPECTED).position == 0
