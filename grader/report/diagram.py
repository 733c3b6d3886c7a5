"""The exchange as a picture: a sequence diagram of one grading, as inline SVG, with the same
steps as a list of text beside it (for screen readers, and for copying).

It is drawn from the timeline's entries that carry a diagram ``kind`` (``grader.timeline``), so
it works for any exercise: two lifelines, the program ("your server") and the counterpart
("reference client"); the program's prints and a few of its calls as notes on its lifeline;
arrows for the connection, each piece of data, each side's close (FIN), a reset and datagrams;
a line where the grader stopped the program, saying why.  Rows are evenly spaced (one step per
row, in time order) and the left axis gives each row's time: a grading's moments are too uneven
for a time scale (a few milliseconds, then a second's wait).

Everything from the student goes through ``safe_text.markup_text`` and ``html.escape`` and is
cut to fit its place, measured in monospace cells, so no text leaves the picture.
"""
from __future__ import annotations

import html
import re
import unicodedata
from typing import List, NamedTuple, Optional

from grader.report.safe_text import markup_text
from grader.results import (CALL, CLOSE, CONNECT, CRASH, DATA, DATAGRAM, END, NOTE, PRINT, RESET, SEEN_CLOSE,
                            STOP, Report, TimelineEntry)

MAX_STEPS = 80  # rows drawn at most (a flooding program): the rest is counted, the timeline has it

# Geometry (SVG user units; the font is monospace, so a text's width is known from its length).
WIDTH = 640
_AXIS = 54  # the times' column
_P, _C = 160, 540  # the program's and the counterpart's lifelines
_HEAD = 44  # the lifelines' name boxes
_ROW = 24
_FONT = 11
_CELL = 6.8  # the width of one monospace character at 11px, with a margin (0.6 em in most fonts)
_ARROWS = (CONNECT, DATA, DATAGRAM, CLOSE, SEEN_CLOSE, RESET)
# Stroke colour and dash per arrow kind (a reset in red; closes dashed).
_ARROW_STYLE = {CONNECT: ("#57606a", ""), DATA: ("#0969da", ""), DATAGRAM: ("#8250df", ""),
                CLOSE: ("#57606a", "5 3"), SEEN_CLOSE: ("#57606a", "2 3"), RESET: ("#c62828", "")}


class Step(NamedTuple):
    t: float
    kind: str
    label: str
    from_program: bool  # an arrow's direction; a note's lifeline (False: the counterpart's)
    grader: bool = False  # said by the grader, not by either side


def lane_names(role: str) -> tuple:
    """(the program's name, the counterpart's name) as the diagram and its list say them."""
    return ("your server", "reference client") if role == "server" else ("your client", "reference server")


def steps(report: Report) -> List[Step]:
    """The timeline entries the diagram draws, in order, at most ``MAX_STEPS`` (then a note of
    how many more, and the grader's stop if it was among them)."""
    drawn = [_step(e) for e in report.timeline if e.kind]
    if len(drawn) <= MAX_STEPS:
        return drawn
    kept = drawn[:MAX_STEPS]
    last = drawn[-1]
    kept.append(Step(kept[-1].t, NOTE, "(%d more steps are not drawn: see the timeline)"
                     % (len(drawn) - MAX_STEPS - (last.kind == STOP)), False, True))
    if last.kind == STOP:
        kept.append(last)
    return kept


def _step(entry: TimelineEntry) -> Step:
    by_program = entry.source in ("program", "output")
    if entry.kind in (SEEN_CLOSE, RESET):  # the counterpart saw it arrive from the program
        by_program = True
    return Step(max(0.0, entry.t), entry.kind, entry.label or entry.text, by_program, entry.source == "grader")


# --- text: cut to fit, measured in monospace cells ---

def _cells(ch: str) -> int:
    if unicodedata.combining(ch):
        return 1  # drawn over the previous character, but counted: never too little room
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _fit(text: str, width: float) -> str:
    """``text`` on one line, cut with an ellipsis to at most ``width`` units of monospace."""
    text = re.sub(r"\s+", " ", markup_text(text)).strip()
    room = int(width // _CELL)
    used, out = 0, []
    for ch in text:
        used += _cells(ch)
        if used > room:
            while out and sum(map(_cells, out)) > room - 1:
                out.pop()
            return "".join(out) + "\u2026"
        out.append(ch)
    return text


def _width(text: str) -> float:
    return sum(map(_cells, text)) * _CELL


def _e(text: str) -> str:
    return html.escape(markup_text(text), quote=True)


def _seconds(t: float) -> str:
    return "%.3f s" % t


# --- the words of each step, for the list (and the picture's description) ---

def describe(step: Step, role: str) -> str:
    program, other = lane_names(role)
    sender, receiver = (program, other) if step.from_program else (other, program)
    text = re.sub(r"\s+", " ", step.label).strip()
    if step.grader:
        return ("the grader stopped your program: " + text) if step.kind == STOP else "grader: " + text
    if step.kind == PRINT:
        return "%s printed: %s" % (program, text)
    if step.kind in (CALL, END):
        return "%s: %s" % (program, text)
    if step.kind == CRASH:
        return "%s crashed: %s" % (program, text)
    if step.kind == NOTE:
        return "%s: %s" % (sender, text)
    if step.kind == CONNECT:
        return "%s connected to %s" % (sender, receiver)
    if step.kind in (DATA, DATAGRAM):
        return "%s \u2192 %s: %s %s" % (sender, receiver, "datagram" if step.kind == DATAGRAM else "data", text)
    if step.kind == CLOSE:
        return "%s closed its side (FIN)" % sender
    if step.kind == SEEN_CLOSE:
        return "%s saw the connection closed (the system closed it for %s)" % (receiver, program)
    if step.kind == RESET:
        return "%s saw the connection reset (RST)" % receiver
    return "%s: %s" % (sender, text)


def render_list(report: Report, drawn: Optional[List[Step]] = None) -> str:
    """The diagram's steps as an ordered list of text (HTML)."""
    drawn = steps(report) if drawn is None else drawn
    items = "".join('<li><span class="seq-t">%s</span> %s</li>' % (_seconds(s.t), _e(describe(s, report.role)))
                    for s in drawn)
    return '<ol class="seq-steps">%s</ol>' % items


# --- the picture ---

def _arrow(y: float, step: Step) -> List[str]:
    colour, dash = _ARROW_STYLE[step.kind]
    x1, x2 = (_P, _C) if step.from_program else (_C, _P)
    tip = x2 - 2 if x2 > x1 else x2 + 2
    back = -8 if x2 > x1 else 8
    label = step.label
    if step.kind == CONNECT:
        label = "connect (SYN)"
    label = _fit(label, _C - _P - 16)
    dash_attr = ' stroke-dasharray="%s"' % dash if dash else ""
    return ['<g class="seq-%s" stroke="%s" fill="%s">' % (step.kind.replace("_", "-"), colour, colour),
            '<line x1="%d" y1="%g" x2="%g" y2="%g"%s/>' % (x1, y, tip, y, dash_attr),
            '<path stroke="none" d="M%g %gl%d -4v8z"/>' % (tip, y, back),
            '<text stroke="none" x="%d" y="%g" text-anchor="middle">%s</text></g>'
            % ((_P + _C) // 2, y - 5, _e(label))]


def _note(y: float, step: Step) -> List[str]:
    if step.grader and step.kind == STOP:
        text = _fit("grader stopped the program: " + step.label, WIDTH - _AXIS - 8)
        return ['<g class="seq-stop"><line x1="%d" y1="%g" x2="%d" y2="%g" stroke="#c62828" stroke-width="2" '
                'stroke-dasharray="6 3"/>' % (_AXIS, y + 3, WIDTH - 4, y + 3),
                '<text x="%d" y="%g" fill="#c62828" font-weight="bold">%s</text></g>' % (_AXIS + 4, y - 2, _e(text))]
    if step.grader:
        text = _fit(step.label, _C - _P - 16)
        return ['<text class="seq-grader" x="%d" y="%g" text-anchor="middle" fill="#59636e" font-style="italic">'
                '%s</text>' % ((_P + _C) // 2, y + 2, _e(text))]
    if not step.from_program:  # the counterpart's note, to the left of its lifeline
        text = _fit(step.label, _C - _P - 24)
        return ['<text class="seq-note" x="%d" y="%g" text-anchor="end" fill="#59636e">%s</text>'
                % (_C - 8, y + 2, _e(text))]
    room = _C - _P - 24
    if step.kind == PRINT:
        text = _fit("printed: " + step.label, room - 8)
        return ['<g class="seq-print"><rect x="%d" y="%g" width="%g" height="17" rx="2" fill="#fff8c5" '
                'stroke="#d4a72c"/>' % (_P + 6, y - 9, _width(text) + 8),
                '<text x="%d" y="%g">%s</text></g>' % (_P + 10, y + 3, _e(text))]
    if step.kind == CRASH:
        text = _fit("crashed: " + step.label, room - 10)
        return ['<g class="seq-crash" fill="#c62828" stroke="#c62828"><path stroke-width="2" '
                'd="M%d %gl10 10m0 -10l-10 10"/>' % (_P - 5, y - 5),
                '<text stroke="none" x="%d" y="%g" font-weight="bold">%s</text></g>' % (_P + 10, y + 3, _e(text))]
    text = _fit(step.label, room)
    return ['<text class="seq-call" x="%d" y="%g" fill="#59636e">%s</text>' % (_P + 8, y + 3, _e(text))]


def render_svg(report: Report, drawn: Optional[List[Step]] = None) -> str:
    """The sequence diagram of ``report`` as one self-contained ``<svg>`` element ("" when the
    report holds nothing to draw: one graded before the timeline said what to draw)."""
    drawn = steps(report) if drawn is None else drawn
    if not drawn:
        return ""
    program, other = lane_names(report.role)
    height = _HEAD + _ROW * len(drawn) + 14
    bottom = height - 6
    stop_y = next((_HEAD + _ROW * i + _ROW // 2 for i, s in enumerate(drawn) if s.kind == STOP), None)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" class="seq-svg" viewBox="0 0 %d %d" width="%d" '
             'height="%d" role="img" font-family="ui-monospace, Menlo, Consolas, \'DejaVu Sans Mono\', '
             'monospace" font-size="%d" fill="#1f2328">' % (WIDTH, height, WIDTH, height, _FONT),
             '<title>%s</title>' % _e("Sequence diagram: %s and the %s" % (program, other)),
             '<desc>%s</desc>' % _e(_summary(report, drawn))]
    for x, name, end in ((_P, program, stop_y or bottom), (_C, other, bottom)):
        parts.append('<rect x="%d" y="6" width="128" height="22" rx="3" fill="#f6f8fa" stroke="#8c959f"/>'
                     '<text x="%d" y="21" text-anchor="middle" font-weight="bold">%s</text>'
                     '<line x1="%d" y1="28" x2="%d" y2="%d" stroke="#8c959f" stroke-dasharray="3 3"/>'
                     % (x - 64, x, _e(name), x, x, end))
    parts.append('<text x="%d" y="40" text-anchor="end" fill="#59636e">time</text>' % (_AXIS - 6))
    shown_time = None
    for i, step in enumerate(drawn):
        y = _HEAD + _ROW * i + _ROW // 2
        seconds = _seconds(step.t)
        if seconds != shown_time:  # a time is written once for the steps that share it
            parts.append('<text x="%d" y="%d" text-anchor="end" fill="#59636e">%s</text>'
                         % (_AXIS - 6, y + 3, seconds[:-2]))
            shown_time = seconds
        parts += _arrow(y + 4, step) if step.kind in _ARROWS and not step.grader else _note(y, step)
    parts.append("</svg>")
    return "".join(parts)


def _summary(report: Report, drawn: List[Step]) -> str:
    ends = [s for s in drawn if s.kind in (STOP, CRASH)]
    how = ("; " + describe(ends[-1], report.role)) if ends else ""
    return ("%d steps from %s to %s%s. The list beside the picture gives every step as text."
            % (len(drawn), _seconds(drawn[0].t), _seconds(drawn[-1].t), how))


def render_figure(report: Report) -> str:
    """The diagram and its list side by side (HTML), or "" when there is nothing to draw."""
    drawn = steps(report)
    if not drawn:
        return ""
    program, other = lane_names(report.role)
    return ('<figure class="seq"><div class="seq-pic">%s</div><div class="seq-text">%s</div>'
            '<figcaption>The exchange between %s and the %s, step by step (times in seconds since '
            'the program started).</figcaption></figure>'
            % (render_svg(report, drawn), render_list(report, drawn), _e(program), _e(other)))


# The figure's style, shared by the pages that show it (the batch report, ``--format html``).
DIAGRAM_CSS = """
.seq { display: flex; flex-wrap: wrap; gap: .5rem 1.2rem; align-items: flex-start; margin: .5rem 0 1rem; }
.seq-pic { flex: 0 0 auto; width: min(100%, 640px); }
.seq-svg { display: block; width: 100%; max-width: 640px; height: auto; }
.seq-svg text { font: 11px ui-monospace, Menlo, Consolas, 'DejaVu Sans Mono', monospace; }
.seq-text { flex: 1 1 18rem; min-width: 0; font-size: .85rem; }
.seq-steps { margin: 0; padding-left: 1.6rem; overflow-wrap: anywhere; }
.seq-t { color: #59636e; font-variant-numeric: tabular-nums; }
.seq figcaption { flex-basis: 100%; color: #59636e; font-size: .85rem; }
"""
