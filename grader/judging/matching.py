"""Matching the program's console lines against the handout's, and finding the message.

Tolerant by default: a line matches when it contains the expected one as a phrase, ignoring case,
surrounding whitespace and trailing punctuation (``[SERVER] Waiting for connection...`` and
``Connection request accepted! ('127.0.0.1', 5123)`` match; the difference is still reported as
a note).  Strict mode demands the exact line.
"""
from __future__ import annotations

import functools
import re
import string
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence, Tuple

_TRAILING_PUNCTUATION = string.punctuation + "\u2026\u3002"  # also "…" and "。"
STDOUT, STDERR = "stdout", "stderr"


def normalize(line: str) -> str:
    """The form two lines are compared in, tolerantly."""
    return line.strip().rstrip(_TRAILING_PUNCTUATION).strip().casefold()


def lines_match(expected: str, actual: str, strict: bool = False) -> bool:
    """The whole line is the expected one (exactly, or tolerantly)."""
    if strict:
        return actual.rstrip("\r") == expected
    return normalize(actual) == normalize(expected)


class Line(NamedTuple):
    """A console line and where in the event log it was printed (its first write).

    ``writes`` holds, for each write that made the line, its offset in ``text`` and its position
    in the log: text written without a newline counts where it was written."""

    text: str
    position: int
    stream: str = STDOUT
    writes: Tuple[Tuple[int, int], ...] = ()
    glued: bool = False  # its writes had socket calls between them: no newline where one belonged

    def position_at(self, offset: int) -> int:
        """The log position of the write that put character ``offset`` of the line on screen."""
        at = self.position
        for start, position in self.writes:
            if start > offset:
                break
            at = position
        return at


class LineMatch(NamedTuple):
    line: Line
    exact: bool  # the line is the expected text to the letter
    position: int = -1  # where the phrase was written (its last character)
    whole: bool = True  # the whole line is the phrase (tolerantly); else it holds more text
    glued: bool = False  # it shares the line with text written at another step, without a newline

    @property
    def at(self) -> int:
        return self.position if self.position >= 0 else self.line.position


_SCANNED = 1 << 16  # characters of a line searched (a flood is not a line of the handout)


@functools.lru_cache(maxsize=64)
def _phrase(expected: str):
    """``expected`` as a phrase in a longer line: any case, not inside a longer word."""
    core = expected.strip().rstrip(_TRAILING_PUNCTUATION).strip()
    if not core:
        return None
    pattern = re.escape(core)
    if core[0].isalnum():
        pattern = r"(?<![^\W_])" + pattern
    if core[-1].isalnum():
        pattern += r"(?![^\W_])"
    return re.compile(pattern, re.IGNORECASE)


def matches(expected: str, lines: Iterable[Line], strict: bool = False) -> Iterator[LineMatch]:
    """Every place ``expected`` was printed, in order: with ``strict`` only a line that is exactly
    it; else every phrase of a line that is it, tolerantly."""
    for line in lines:
        exact = line.text.rstrip("\r") == expected
        if strict or lines_match(expected, line.text):
            if exact or not strict:
                end = max(len(line.text.rstrip()) - 1, 0)
                yield LineMatch(line, exact, line.position_at(end), True, False)
            continue
        phrase = _phrase(expected)
        if phrase is None:
            continue
        for found in phrase.finditer(line.text[:_SCANNED]):
            start, end = found.span()
            yield LineMatch(line, False, line.position_at(end - 1), False, line.glued)


def find_line(expected: str, lines: Iterable[Line], strict: bool = False) -> Optional[LineMatch]:
    return next(matches(expected, lines, strict), None)


CLOSE_ENOUGH = 0.7  # similarity below which a line is not offered as "the closest line"
_CLOSEST_LINES = 2000  # lines looked at for a "did you mean" hint; a flood has no close line


def closest(expected: str, lines: Sequence[Line], others: Sequence[str] = ()) -> Optional[Line]:
    """The line most like ``expected`` (for "did you mean" messages), if any is close.

    A line that holds another of the handout's lines (``others``) is that line, not a misspelt
    ``expected``: "Waiting for reply..." is never offered for "Waiting for connection...".

    Bounded for floods: similarity is 2*matches/(len(a)+len(b)), so a line much longer than the
    expected one can never reach the threshold and is not compared at all; difflib's cheap upper
    bounds rule out most of the rest before the full comparison."""
    import difflib  # only for failure messages

    target = normalize(expected)
    best, best_ratio = None, CLOSE_ENOUGH
    matcher = difflib.SequenceMatcher(None, b=target)
    for line in lines[:_CLOSEST_LINES]:
        text = normalize(line.text)
        if len(text) > 3 * len(target) + 8:  # then 2*matches/total < 0.5: cannot be close
            continue
        matcher.set_seq1(text)
        if matcher.real_quick_ratio() > best_ratio and matcher.quick_ratio() > best_ratio:
            ratio = matcher.ratio()
            if ratio > best_ratio and not any(find_line(other, [line]) for other in others
                                              if normalize(other) != target):
                best, best_ratio = line, ratio
    return best


def difference_note(expected: str, actual: str) -> str:
    """One sentence on how an accepted line differs from the expected one."""
    return 'your line "%s" differs from "%s" (accepted; --strict would not)' % (actual.strip(), expected)


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
