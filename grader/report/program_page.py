"""``--format html``: one program's grading as a self-contained page a student can open or keep.

The checklist (what the text report says), the exchange as a sequence diagram with its steps as
text beside it (``diagram``), the timeline ``--verbose`` prints, and the program's output.  No
script and no link out: everything is in the page, and a Content-Security-Policy forbids the
rest.  Text from the program goes through ``safe_text.markup_text`` and ``html.escape``.
"""
from __future__ import annotations

import html
from typing import List

from grader.report.diagram import DIAGRAM_CSS, lane_names, render_figure
from grader.report.safe_text import markup_text
from grader.report.text import student_traceback
from grader.judging.results import Report, Status

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0 auto; padding: 1rem 1.2rem 3rem; max-width: 1100px; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.6rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid #d0d7de; }
td.n { text-align: right; white-space: nowrap; }
.passed { color: #1a7f37; font-weight: 600; } .failed { color: #c62828; font-weight: 600; }
.skipped { color: #8a6d00; font-weight: 600; }
.label { color: #59636e; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f8fa; padding: .5rem; border-radius: 4px; }
"""
_MARK = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.SKIPPED: "SKIP"}


def _e(value: object) -> str:
    return html.escape(markup_text(value), quote=True)


def _num(value: float) -> str:
    return "%g" % value


def _checklist(report: Report) -> str:
    rows = []
    for c in report.checks:
        said = [("expected", c.expected), ("happened", c.actual), ("hint", c.hint)] if c.status is Status.FAILED \
            else [("skipped", c.reason)] if c.status is Status.SKIPPED else []
        said += [("note", n) for n in c.notes]
        extra = "".join('<div><span class="label">%s:</span> %s</div>' % (label, _e(text))
                        for label, text in said if text)
        rows.append('<tr><td class="%s">%s</td><td>%s</td><td>%s%s</td><td class="n">%s/%s</td></tr>'
                    % (c.status.value, _MARK[c.status], _e(c.id), _e(c.description), extra,
                       _num(c.points), _num(c.max_points)))
    score = "Score: %s/%s%s" % (_num(report.score), _num(report.max_score),
                                "  - all checks passed!" if report.full_marks else "")
    notes = "".join("<p>Note: %s</p>" % _e(n) for n in report.notes)
    return ('<table class="checks"><thead><tr><th>result</th><th>check</th><th>what it checks</th>'
            '<th class="n">points</th></tr></thead><tbody>%s</tbody></table><p><b>%s</b></p>%s'
            % ("".join(rows), _e(score), notes))


def _section(report: Report, index: int) -> str:
    program, other = lane_names(report.role)
    lab = " of %s" % report.exercise if report.exercise else ""
    parts = ['<section aria-labelledby="r%d"><h1 id="r%d">Grading %s as the %s%s (against the %s)</h1>'
             % (index, index, _e(report.file), _e(report.role), _e(lab), _e(other)), _checklist(report)]
    traceback = student_traceback(report)
    if traceback:
        parts.append("<h2>Your program's error output</h2><pre>%s</pre>" % _e("\n".join(traceback)))
    figure = render_figure(report)
    if figure:
        parts.append("<h2>The exchange</h2>" + figure)
    if report.timeline:
        lines = "\n".join("%7.3f  %-17s %s" % (e.t, e.source, e.text) for e in report.timeline)
        parts.append("<h2>Timeline (seconds since %s started)</h2><pre class=\"timeline\">%s</pre>"
                     % (_e(program), _e(lines)))
    parts.append("<h2>Your program's output</h2><pre class=\"stdout\">%s</pre>"
                 % (_e(report.stdout) if report.stdout else "(nothing)"))
    parts.append("</section>")
    return "".join(parts)


def render_program_page(reports: List[Report], *, color: bool = False, verbose: bool = False) -> str:
    """The page for ``reports`` (one per graded program); ``color`` and ``verbose`` change nothing:
    the page always holds the timeline and the output."""
    title = "Grading " + ", ".join(r.file for r in reports)
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" content="%s">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>%s</title><style>%s%s</style></head><body>%s</body></html>\n'
            % (csp, _e(title), _CSS, DIAGRAM_CSS, "".join(_section(r, i) for i, r in enumerate(reports))))
