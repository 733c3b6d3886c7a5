"""How much of a program's text a report quotes: one rule for every output.

A program's output, the data it sent and its exception messages can be of any size (a server that
floods the socket sends a 65,000-character "line").  Every quoted item is cut to ``QUOTE_CHARS``
and the program's output to ``OUTPUT_CHARS``, each cut saying how large the whole was, so a
report stays small enough to read and to store (text, JSON, JUnit, HTML alike).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from grader.judging.results import Report

QUOTE_CHARS = 200  # one quoted line, message, datum or error message
TEXT_CHARS = 2_000  # one expected/actual/hint/note sentence, quotes included (a net: quotes are cut)
OUTPUT_CHARS = 16 * 1024  # the program's stdout, and its stderr, in a report
TIMELINE_ENTRIES = 500  # entries of the --verbose timeline
_SLACK = 80  # a text at most this much over its bound is left whole: as short as a cut one would
# be, and a cut text is never cut again (bounding twice changes nothing)


def quoted(text: object, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it really was."""
    text = "" if text is None else str(text)
    if len(text) <= limit + _SLACK:
        return text
    return "%s... [cut: %s characters in all]" % (text[:limit], format(len(text), ","))


def output(text: object, limit: int = OUTPUT_CHARS) -> str:
    """A program's whole output cut to ``limit`` characters, with a line saying so."""
    text = "" if text is None else str(text)
    if len(text) <= limit + _SLACK:
        return text
    return "%s\n[... output cut here: the first %s of %s characters are shown]\n" % (
        text[:limit], format(limit, ","), format(len(text), ","))


def _text(value: Optional[str]) -> Optional[str]:
    return value if value is None else quoted(value, TEXT_CHARS)


def bounded(report: "Report") -> "Report":
    """``report`` with every text it quotes within the bounds above (the same report when it
    already was): what every renderer, and the JSON report, is made from."""
    from grader.judging.results import TimelineEntry

    checks = tuple(c._replace(expected=_text(c.expected), actual=_text(c.actual), hint=_text(c.hint),
                              reason=_text(c.reason), notes=tuple(quoted(n, TEXT_CHARS) for n in c.notes))
                   for c in report.checks)
    timeline = tuple(e._replace(text=quoted(e.text), label=quoted(e.label)) for e in report.timeline[:TIMELINE_ENTRIES])
    if len(report.timeline) > TIMELINE_ENTRIES:
        last = report.timeline[-1]
        timeline += (TimelineEntry(last.t, "grader", "(%s more entries not shown)"
                                   % format(len(report.timeline) - TIMELINE_ENTRIES, ",")),)
    return report._replace(checks=checks, stdout=output(report.stdout), stderr=output(report.stderr),
                           notes=tuple(quoted(n, TEXT_CHARS) for n in report.notes),
                           requested_address=_text(report.requested_address), timeline=timeline)
