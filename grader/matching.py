"""Matching the program's console lines against the handout's, and finding the message.

Tolerant by default: a line matches when it equals the expected one ignoring case, surrounding
whitespace and trailing punctuation (the difference is still reported as a note).  Strict mode
demands the exact text.
"""
from __future__ import annotations

import re
import string
from typing import Iterable, NamedTuple, Optional, Sequence

_TRAILING_PUNCTUATION = string.punctuation + "\u2026\u3002"  # also "…" and "。"


def normalize(line: str) -> str:
    """The form two lines are compared in, tolerantly."""
    return line.strip().rstrip(_TRAILING_PUNCTUATION).strip().casefold()


def lines_match(expected: str, actual: str, strict: bool = False) -> bool:
    if strict:
        return actual.rstrip("\r") == expected
    return normalize(actual) == normalize(expected)


class Line(NamedTuple):
    """A console line and where in the event log it was printed (its first write)."""

    text: str
    position: int


class LineMatch(NamedTuple):
    line: Line
    exact: bool  # equal to the expected text to the letter


def find_line(expected: str, lines: Iterable[Line], strict: bool = False) -> Optional[LineMatch]:
    for line in lines:
        if lines_match(expected, line.text, strict):
            return LineMatch(line, exact=line.text.rstrip("\r") == expected)
    return None


_CLOSEST_LINES = 2000  # lines looked at for a "did you mean" hint; a flood has no close line


def closest(expected: str, lines: Sequence[Line]) -> Optional[Line]:
    """The line most like ``expected`` (for "did you mean" messages), if any is close.

    Bounded for floods: similarity is 2*matches/(len(a)+len(b)), so a line much longer than the
    expected one can never reach the threshold and is not compared at all; difflib's cheap upper
    bounds rule out most of the rest before the full comparison."""
    import difflib  # only for failure messages

    target = normalize(expected)
    best, best_ratio = None, 0.6
    matcher = difflib.SequenceMatcher(None, b=target)
    for line in lines[:_CLOSEST_LINES]:
        text = normalize(line.text)
        if len(text) > 3 * len(target) + 8:  # then 2*matches/total < 0.5: cannot be close
            continue
        matcher.set_seq1(text)
        if matcher.real_quick_ratio() > best_ratio and matcher.quick_ratio() > best_ratio:
            ratio = matcher.ratio()
            if ratio > best_ratio:
                best, best_ratio = line, ratio
    return best


def difference_note(expected: str, actual: str) -> str:
    """One sentence on how an accepted line differs from the expected one."""
    return 'your line "%s" differs from "%s" (accepted; --strict would not)' % (actual.strip(), expected)


_SCANNED = 1 << 16  # characters of a line searched for the message (a flood is not a message)


def _bytes_repr_spans(line: str):
    """Character spans of bytes literals such as b'...' or b"..." in a printed line."""
    for match in re.finditer(r"""(?<![\w])b(['"])(?:\\.|(?!\1).)*\1""", line):
        yield match.span()


def contains_as_text(line: str, message: str) -> bool:
    """True when ``message`` occurs in ``line`` outside any printed bytes literal (b'...')."""
    if not message:
        return False
    line = line[:_SCANNED]
    spans = list(_bytes_repr_spans(line))
    start = line.find(message)
    while start != -1:
        end = start + len(message)
        if not any(s < end and start < e for s, e in spans):
            return True
        start = line.find(message, start + 1)
    return False


def contains_as_bytes_repr(line: str, message: str) -> bool:
    """True when the line shows the message as a bytes literal: b'Hello World!'."""
    line = line[:_SCANNED]
    return any(message in line[s:e] for s, e in _bytes_repr_spans(line))
