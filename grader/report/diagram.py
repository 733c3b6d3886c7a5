"""The exchange as a picture: a sequence diagram of one grading, as inline SVG, with the same
steps as a list of text beside it (for screen readers, and for copying).

It is drawn from the timeline's entries that carry a diagram ``kind`` (``grader.judging.timeline``), so
it works for any exercise: two lifelines, the program ("your server") and the counterpart
("reference client"); the program's prints and a few of its calls as notes on its lifeline;
arrows for the connection, each piece of data, each side's close (FIN), a reset and datagrams;
a line where the grader stopped the program, saying why.  Rows are evenly spaced (one step per
row, in time order) and the left axis gives each row's time: a grading's moments are too uneven
for a time scale (a few milliseconds, then a second's wait).

Everything from the student goes through ``safe_text.markup_text`` and ``html.escape`` and is
cut to fit its place, measured in monospace cells, so no text leaves the picture.  In report.html
the page's script (``DIAGRAM_SCRIPT``) draws the same picture from the list when a student's
details open, so that 800 pictures do not weigh on the page.
"""
from __future__ import annotations

import html
import json
import re
from typing import List, NamedTuple, Optional, Tuple

from grader.report.safe_text import markup_text
from grader.judging.results import (CLOSE, CONNECT, CRASH, DATA, DATAGRAM, NOTE, PRINT, RESET, SEEN_CLOSE, STOP, Report,
                            TimelineEntry)

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


# --- text: cut to fit, counted in monospace cells ---

def _cells(ch: str) -> int:
    """Cells a character takes: two from U+1100 on (wide scripts, emoji, symbols that may be
    drawn from a wider font): generous, so that no text ever needs more room than it was given.
    The batch report's script counts the same way."""
    return 2 if ord(ch) >= 0x1100 else 1


def _fit(text: str, width: float) -> str:
    """``text`` on one line, cut with an ellipsis to at most ``width`` units of monospace."""
    text = _one_line(text)
    room = int(width // _CELL)
    if sum(map(_cells, text)) <= room:
        return text
    out, used = [], _cells("\u2026")
    for ch in text:
        used += _cells(ch)
        if used > room:
            break
        out.append(ch)
    return "".join(out) + "\u2026"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", markup_text(text)).strip()


def _width(text: str) -> float:
    return sum(map(_cells, text)) * _CELL


def _e(text: str) -> str:
    return html.escape(markup_text(text), quote=True)


def _seconds(t: float) -> str:
    return "%.3f s" % t


# --- the words of each step: the list's text, and the label the picture draws ---

def _words(step: Step, role: str) -> Tuple[str, str]:
    """(what the list says before the label, the label): the label is what the picture draws
    (after the prefix of its shape, ``_PREFIX``), the same words in both."""
    program, other = lane_names(role)
    sender, receiver = (program, other) if step.from_program else (other, program)
    label = _one_line(step.label)
    if step.grader:
        return ("the grader stopped your program: " if step.kind == STOP else "grader: "), label
    if step.kind == PRINT:
        return "%s printed: " % program, label
    if step.kind == CRASH:
        return "%s crashed: " % program, label
    if step.kind == CONNECT:
        return "%s \u2192 %s: " % (sender, receiver), "connect (SYN)"
    if step.kind in (DATA, DATAGRAM):
        return "%s \u2192 %s: %s " % (sender, receiver, "datagram" if step.kind == DATAGRAM else "data"), label
    if step.kind in (CLOSE, SEEN_CLOSE, RESET):
        return "%s \u2192 %s: " % (sender, receiver), label
    return "%s: " % (program if step.from_program else other), label


def describe(step: Step, role: str) -> str:
    """One step in words, as the list beside the picture says it."""
    return "".join(_words(step, role))


def _shape_of(step: Step) -> str:
    """How a step is drawn: an arrow kind (its style), or stop, grader, note, print, crash, call."""
    if step.grader:
        return "stop" if step.kind == STOP else "grader"
    if step.kind in _ARROWS:
        return step.kind
    if not step.from_program:
        return "note"
    return step.kind if step.kind in (PRINT, CRASH) else "call"


# Per shape: the words drawn before the label, and the room the text has (in SVG units).
_PREFIX = {"print": "printed: ", "crash": "crashed: ", "stop": "grader stopped the program: "}
_ROOM = {"stop": WIDTH - _AXIS - 8, "grader": _C - _P - 16, "note": _C - _P - 24, "print": _C - _P - 32,
         "crash": _C - _P - 34, "call": _C - _P - 24}
_ARROW_ROOM = _C - _P - 16


def _row(step: Step, role: str) -> Tuple[str, str]:
    """(shape, the text drawn, cut to fit its place)."""
    shape = _shape_of(step)
    label = _words(step, role)[1]
    return shape, _fit(_PREFIX.get(shape, "") + label, _ROOM.get(shape, _ARROW_ROOM))


def render_list(report: Report, drawn: Optional[List[Step]] = None, *, for_script: bool = False) -> str:
    """The diagram's steps as an ordered list of text (HTML), each label in ``<code>``;
    ``for_script``: each item also says its shape (and an arrow's direction), for the batch
    report's script to draw the picture from."""
    drawn = steps(report) if drawn is None else drawn
    items = []
    for s in drawn:
        how = ""
        if for_script:
            shape = _shape_of(s)
            how = ' data-s="%s"%s' % (shape, " data-p" if s.from_program and shape in _ARROW_STYLE else "")
        before, label = _words(s, report.role)
        items.append('<li%s><span class="seq-t">%s</span> %s<code>%s</code></li>'
                     % (how, _seconds(s.t), _e(before), _e(label)))
    return '<ol class="seq-steps">%s</ol>' % "".join(items)


# --- the picture ---

def _shape(y: float, step: Step, shape: str, text: str) -> List[str]:
    """One row of the picture at height ``y``, in SVG (the script's ``row`` mirrors this)."""
    t = _e(text)
    if shape in _ARROW_STYLE:
        colour, dash = _ARROW_STYLE[step.kind]
        x1, x2 = (_P, _C) if step.from_program else (_C, _P)
        tip = x2 - 2 if x2 > x1 else x2 + 2
        dash_attr = ' stroke-dasharray="%s"' % dash if dash else ""
        return ['<g class="seq-%s" stroke="%s" fill="%s">' % (step.kind.replace("_", "-"), colour, colour),
                '<line x1="%d" y1="%g" x2="%g" y2="%g"%s/>' % (x1, y + 4, tip, y + 4, dash_attr),
                '<path stroke="none" d="M%g %gl%d -4v8z"/>' % (tip, y + 4, -8 if x2 > x1 else 8),
                '<text stroke="none" x="%d" y="%g" text-anchor="middle">%s</text></g>' % ((_P + _C) // 2, y - 1, t)]
    if shape == "stop":
        return ['<g class="seq-stop"><line x1="%d" y1="%g" x2="%d" y2="%g" stroke="#c62828" stroke-width="2" '
                'stroke-dasharray="6 3"/>' % (_AXIS, y + 3, WIDTH - 4, y + 3),
                '<text x="%d" y="%g" fill="#c62828" font-weight="bold">%s</text></g>' % (_AXIS + 4, y - 2, t)]
    if shape == "grader":
        return ['<text class="seq-grader" x="%d" y="%g" text-anchor="middle" fill="#59636e" font-style="italic">'
                '%s</text>' % ((_P + _C) // 2, y + 2, t)]
    if shape == "note":  # the counterpart's, to the left of its lifeline
        return ['<text class="seq-note" x="%d" y="%g" text-anchor="end" fill="#59636e">%s</text>' % (_C - 8, y + 2, t)]
    if shape == "print":
        return ['<g class="seq-print"><rect x="%d" y="%g" width="%g" height="17" rx="2" fill="#fff8c5" '
                'stroke="#d4a72c"/>' % (_P + 6, y - 9, _width(text) + 8),
                '<text x="%d" y="%g">%s</text></g>' % (_P + 10, y + 3, t)]
    if shape == "crash":
        return ['<g class="seq-crash" fill="#c62828" stroke="#c62828"><path stroke-width="2" '
                'd="M%d %gl10 10m0 -10l-10 10"/>' % (_P - 5, y - 5),
                '<text stroke="none" x="%d" y="%g" font-weight="bold">%s</text></g>' % (_P + 10, y + 3, t)]
    return ['<text class="seq-call" x="%d" y="%g" fill="#59636e">%s</text>' % (_P + 8, y + 3, t)]


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
             '<title>%s</title>' % _e(_title(report)),
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
        parts += _shape(y, step, *_row(step, report.role))
    parts.append("</svg>")
    return "".join(parts)


def _title(report: Report) -> str:
    return "Sequence diagram: %s and the %s" % lane_names(report.role)


def _summary(report: Report, drawn: List[Step]) -> str:
    ends = [s for s in drawn if s.kind in (STOP, CRASH)]
    how = ("; " + describe(ends[-1], report.role)) if ends else ""
    return ("%d steps from %s to %s%s. The list beside the picture gives every step as text."
            % (len(drawn), _seconds(drawn[0].t), _seconds(drawn[-1].t), how))  # the script says the same


def render_figure(report: Report, *, drawn_by_script: bool = False) -> str:
    """The diagram and its list side by side (HTML), or "" when there is nothing to draw.

    ``drawn_by_script``: the picture is left for ``DIAGRAM_SCRIPT`` to draw from the list when
    the figure is shown (the batch report: 800 inline pictures would double the page)."""
    drawn = steps(report)
    if not drawn:
        return ""
    if drawn_by_script:
        picture = '<div class="seq-pic" data-lanes="%s"></div>' % _e("|".join(lane_names(report.role)))
    else:
        picture = '<div class="seq-pic">%s</div>' % render_svg(report, drawn)
    return ('<figure class="seq">%s<div class="seq-text">%s</div><figcaption>Times in seconds since the '
            'program started.</figcaption></figure>' % (picture, render_list(report, drawn, for_script=drawn_by_script)))


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


# The batch report's script: draws each figure's picture from its list (``render_figure(...,
# drawn_by_script=True)``) the first time the figure is shown, as ``render_svg`` would: the same
# shapes, geometry, prefixes and cutting (``_fit``).  Text is only ever set as textContent.
DIAGRAM_SCRIPT = """
(function () {
  var NS = 'http://www.w3.org/2000/svg', W = %(width)d, AXIS = %(axis)d, P = %(p)d, C = %(c)d;
  var HEAD = %(head)d, ROW = %(row)d, CELL = %(cell)s, STYLE = %(style)s, PREFIX = %(prefix)s;
  var ROOM = %(room)s, ARROW_ROOM = %(arrow_room)d;
  function el(parent, tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }
  function cells(ch) { return ch.codePointAt(0) >= 0x1100 ? 2 : 1; }
  function width(text) { var n = 0; for (var ch of text) n += cells(ch); return n * CELL; }
  function fit(text, room) {
    text = text.replace(/\\s+/g, ' ').trim();
    var most = Math.floor(room / CELL);
    if (width(text) / CELL <= most) return text;
    var out = '', used = cells('\\u2026');
    for (var ch of text) { used += cells(ch); if (used > most) break; out += ch; }
    return out + '\\u2026';
  }
  function row(svg, li, y) {
    var shape = li.getAttribute('data-s'), code = li.querySelector('code');
    var text = fit((PREFIX[shape] || '') + (code ? code.textContent : ''), ROOM[shape] || ARROW_ROOM);
    var g;
    if (STYLE[shape]) {
      var x1 = li.hasAttribute('data-p') ? P : C, x2 = x1 === P ? C : P, tip = x2 > x1 ? x2 - 2 : x2 + 2;
      g = el(svg, 'g', {'class': 'seq-' + shape.replace('_', '-'), stroke: STYLE[shape][0], fill: STYLE[shape][0]});
      var line = el(g, 'line', {x1: x1, y1: y + 4, x2: tip, y2: y + 4});
      if (STYLE[shape][1]) line.setAttribute('stroke-dasharray', STYLE[shape][1]);
      el(g, 'path', {stroke: 'none', d: 'M' + tip + ' ' + (y + 4) + 'l' + (x2 > x1 ? -8 : 8) + ' -4v8z'});
      el(g, 'text', {stroke: 'none', x: (P + C) >> 1, y: y - 1, 'text-anchor': 'middle'}, text);
    } else if (shape === 'stop') {
      g = el(svg, 'g', {'class': 'seq-stop'});
      el(g, 'line', {x1: AXIS, y1: y + 3, x2: W - 4, y2: y + 3, stroke: '#c62828', 'stroke-width': 2,
                     'stroke-dasharray': '6 3'});
      el(g, 'text', {x: AXIS + 4, y: y - 2, fill: '#c62828', 'font-weight': 'bold'}, text);
    } else if (shape === 'grader') {
      el(svg, 'text', {'class': 'seq-grader', x: (P + C) >> 1, y: y + 2, 'text-anchor': 'middle', fill: '#59636e',
                       'font-style': 'italic'}, text);
    } else if (shape === 'note') {
      el(svg, 'text', {'class': 'seq-note', x: C - 8, y: y + 2, 'text-anchor': 'end', fill: '#59636e'}, text);
    } else if (shape === 'print') {
      g = el(svg, 'g', {'class': 'seq-print'});
      el(g, 'rect', {x: P + 6, y: y - 9, width: width(text) + 8, height: 17, rx: 2, fill: '#fff8c5', stroke: '#d4a72c'});
      el(g, 'text', {x: P + 10, y: y + 3}, text);
    } else if (shape === 'crash') {
      g = el(svg, 'g', {'class': 'seq-crash', fill: '#c62828', stroke: '#c62828'});
      el(g, 'path', {'stroke-width': 2, d: 'M' + (P - 5) + ' ' + (y - 5) + 'l10 10m0 -10l-10 10'});
      el(g, 'text', {stroke: 'none', x: P + 10, y: y + 3, 'font-weight': 'bold'}, text);
    } else {
      el(svg, 'text', {'class': 'seq-call', x: P + 8, y: y + 3, fill: '#59636e'}, text);
    }
  }
  function draw(pic) {
    var items = pic.parentNode.querySelectorAll('.seq-steps > li[data-s]');
    if (!items.length) return;
    var lanes = pic.getAttribute('data-lanes').split('|'), h = HEAD + ROW * items.length + 14;
    var stopAt = null, end = null, times = [];
    items.forEach(function (li, i) {
      var shape = li.getAttribute('data-s');
      if (stopAt === null && shape === 'stop') stopAt = HEAD + ROW * i + (ROW >> 1);
      if (shape === 'stop' || shape === 'crash') end = li;
      times.push(li.querySelector('.seq-t').textContent);
    });
    var svg = el(pic, 'svg', {'class': 'seq-svg', viewBox: '0 0 ' + W + ' ' + h, width: W, height: h, role: 'img',
      'font-family': "ui-monospace, Menlo, Consolas, 'DejaVu Sans Mono', monospace", 'font-size': %(font)d,
      fill: '#1f2328'});
    el(svg, 'title', {}, 'Sequence diagram: ' + lanes[0] + ' and the ' + lanes[1]);
    el(svg, 'desc', {}, items.length + ' steps from ' + times[0] + ' to ' + times[times.length - 1]
       + (end ? '; ' + end.textContent.slice(times[0].length).trim() : '')
       + '. The list beside the picture gives every step as text.');
    [[P, lanes[0], stopAt === null ? h - 6 : stopAt], [C, lanes[1], h - 6]].forEach(function (lane) {
      el(svg, 'rect', {x: lane[0] - 64, y: 6, width: 128, height: 22, rx: 3, fill: '#f6f8fa', stroke: '#8c959f'});
      el(svg, 'text', {x: lane[0], y: 21, 'text-anchor': 'middle', 'font-weight': 'bold'}, lane[1]);
      el(svg, 'line', {x1: lane[0], y1: 28, x2: lane[0], y2: lane[2], stroke: '#8c959f', 'stroke-dasharray': '3 3'});
    });
    el(svg, 'text', {x: AXIS - 6, y: 40, 'text-anchor': 'end', fill: '#59636e'}, 'time');
    items.forEach(function (li, i) {
      var y = HEAD + ROW * i + (ROW >> 1);
      if (i === 0 || times[i] !== times[i - 1]) {  // a time is written once for the steps that share it
        el(svg, 'text', {x: AXIS - 6, y: y + 3, 'text-anchor': 'end', fill: '#59636e'}, times[i].replace(/ s$/, ''));
      }
      row(svg, li, y);
    });
  }
  function drawShown() {
    document.querySelectorAll('.seq-pic[data-lanes]').forEach(function (pic) {
      if (!pic.firstChild && pic.offsetParent !== null) draw(pic);  // only figures on screen
    });
  }
  var pending = false;
  new MutationObserver(function () {
    if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; drawShown(); }); }
  }).observe(document.body, {attributes: true, attributeFilter: ['hidden'], subtree: true});
  drawShown();
})();
""" % {"width": WIDTH, "axis": _AXIS, "p": _P, "c": _C, "head": _HEAD, "row": _ROW, "cell": _CELL, "font": _FONT,
       "style": json.dumps({k: list(v) for k, v in _ARROW_STYLE.items()}), "prefix": json.dumps(_PREFIX),
       "room": json.dumps(_ROOM), "arrow_room": _ARROW_ROOM}
