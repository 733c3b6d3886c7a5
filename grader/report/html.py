"""``report.html``: the class at a glance, in one self-contained page.

No network and no other files: the CSS, the script (``html_assets``) and the charts are all in
the page, so it can be mailed or opened from a USB stick; its only links out are to the
``feedback/<name>.txt`` files the batch writes beside it.  The student table is also a matrix,
one cell per check, so a TA sees who failed what without opening anyone; the script only adds
sorting, filtering and opening details, and without it every row and detail is shown.  Everything that came from a student
(names, file names, output, tracebacks) goes through ``html.escape`` (after ``safe_text.markup_text``:
no lone surrogate or control character reaches the page) and only ever into text or
quoted attributes, never into the script; a Content-Security-Policy with a per-page nonce
backs this up, so even a missed escape could not run a student's script.
"""
from __future__ import annotations

import html
import secrets
import statistics
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from grader.batch.feedback import missing_advice
from grader.batch.outcome import MISSING, StudentResult
from grader.batch.summary import failed_checks
from grader.exercises.default import HELLO_WORLD, ROLES, Exercise
from grader.report.diagram import render_figure
from grader.report.html_assets import CSS, HEAD_SCRIPT, SCRIPT
from grader.report.safe_text import markup_text
from grader.judging.results import Report, Status

MAX_OUTPUT_CHARS = 20_000  # a flooding program's output is cut here (the JSON keeps it all)


def _e(value: object) -> str:
    return html.escape(markup_text(value), quote=True)


def _num(value: float) -> str:
    return f"{value:g}"


def _histogram(scores: Sequence[float], max_score: float) -> str:
    """Bars of how many students got each total score (one bar per point, up to 40 bars)."""
    top = max(1, int(max_score + 0.999))
    width_per = max(1, (top + 39) // 40)
    bins = [0] * (top // width_per + 1)
    for s in scores:
        bins[min(len(bins) - 1, int(max(0.0, s)) // width_per)] += 1
    w, h, left, bottom, top_pad = 560, 200, 34, 28, 14
    plot_w, plot_h = w - left - 8, h - bottom - top_pad
    peak = max(bins) or 1
    bar_w = plot_w / len(bins)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
             f'aria-labelledby="hist-title" id="histogram"><title id="hist-title">Students per '
             f'total score</title>',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - 8}" y2="{h - bottom}" stroke="#8c959f"/>',
             f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{peak}</text>',
             f'<text x="{left - 6}" y="{h - bottom}" text-anchor="end">0</text>']
    for i, count in enumerate(bins):
        x = left + i * bar_w
        bar_h = plot_h * count / peak
        low = i * width_per
        label = _num(low) if width_per == 1 else f"{low}-{low + width_per - 1}"
        parts.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{h - bottom - bar_h:.1f}" width="{max(1, bar_w - 2):.1f}" '
            f'height="{bar_h:.1f}" fill="#0969da" data-score="{_e(label)}" data-count="{count}">'
            f'<title>{count} students scored {_e(label)}</title></rect>')
        if count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{h - bottom - bar_h - 3:.1f}" '
                         f'text-anchor="middle">{count}</text>')
        if len(bins) <= 21 or i % 2 == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{h - bottom + 14}" '
                         f'text-anchor="middle">{_e(label)}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{h - 2}" text-anchor="middle">'
                 f'total score (out of {_num(max_score)})</text></svg>')
    return "".join(parts)


def pass_rates(results: Sequence[StudentResult], exercise: Exercise = HELLO_WORLD) -> List[tuple]:
    """(check id, description, passed, graded) per check, in the exercise's order."""
    rows = []
    for role in ROLES:
        for spec in exercise.specs(role):
            passed = graded = 0
            for r in results:
                report = r.roles[role].report
                if report is None:
                    continue
                for check in report.checks:
                    if check.id == spec.id:
                        graded += 1
                        passed += check.status is Status.PASSED
            rows.append((spec.id, spec.description, passed, graded))
    return rows


def _pass_rate_chart(rows: Sequence[tuple]) -> str:
    """One bar per check, in HTML so that it scales to any screen; a bar is a button that
    filters the table to the students who did not pass that check."""
    items = []
    for cid, desc, passed, graded in rows:
        share = passed / graded if graded else 0.0
        level = "good" if share >= 0.8 else "mid" if share >= 0.5 else "low"
        items.append(
            f'<li><button type="button" class="rate rate-{level}" data-check="{_e(cid)}" '
            f'data-passed="{passed}" data-graded="{graded}" title="{_e(cid)}: {_e(desc)} ({passed} '
            f'of {graded} passed). Show who did not pass it."><span class="rate-id">{_e(cid)}</span>'
            f'<span class="rate-bar"><span class="rate-fill" style="width:{100 * share:.1f}%">'
            f'</span></span><span class="rate-pct">{"-" if not graded else f"{round(100 * share)}%"}'
            f'</span></button></li>')
    return f'<ul class="rates" id="pass-rates">{"".join(items)}</ul>'


# One letter per check and student: what the matrix cell shows, and what the filter matches.
PASSED, FAILED, SKIPPED, NO_PROGRAM, NOT_GRADED = "p", "f", "s", "m", "e"
_MARK = {PASSED: "\u2713", FAILED: "\u2717", SKIPPED: "\u2013", NO_PROGRAM: "\u2205", NOT_GRADED: "!"}
_WORD = {PASSED: "passed", FAILED: "failed", SKIPPED: "skipped", NO_PROGRAM: "program missing",
         NOT_GRADED: "not graded"}
_LEGEND = {SKIPPED: "skipped (an earlier check failed)", NOT_GRADED: "not graded (error)"}
_FROM_STATUS = {Status.PASSED: PASSED, Status.FAILED: FAILED, Status.SKIPPED: SKIPPED}
# The result filter's choices: (value, label, letters it matches).
RESULT_GROUPS = (("notpassed", "Did not pass", "fsme"), ("failed", "Failed", "f"),
                 ("skipped", "Skipped", "s"), ("ungraded", "Missing or not graded", "me"),
                 ("passed", "Passed", "p"))


def check_columns(exercise: Exercise = HELLO_WORLD) -> List[Tuple[str, str, str]]:
    """(role, check id, description) per check, in the exercise's order: the matrix's columns."""
    return [(role, spec.id, spec.description) for role in ROLES for spec in exercise.specs(role)]


def check_codes(result: StudentResult, exercise: Exercise = HELLO_WORLD) -> str:
    """The student's result on every check (``check_columns`` order), one letter each."""
    codes = []
    for role, cid, _ in check_columns(exercise):
        outcome = result.roles[role]
        if outcome.report is None:
            codes.append(NO_PROGRAM if outcome.state == MISSING else NOT_GRADED)
            continue
        status = next((c.status for c in outcome.report.checks if c.id == cid), None)
        codes.append(_FROM_STATUS.get(status, NOT_GRADED))
    return "".join(codes)


def _matrix_cells(result: StudentResult, codes: str, exercise: Exercise) -> str:
    who = _e(result.student)
    cells = []
    previous_role = ""
    for (role, cid, _), code in zip(check_columns(exercise), codes):
        edge = " first-client" if previous_role and role != previous_role else ""
        previous_role = role
        cells.append(f'<td class="k {code}{edge}" title="{who}, {_e(cid)}: {_WORD[code]}">{_MARK[code]}</td>')
    return "".join(cells)


def _matrix_headers(exercise: Exercise) -> str:
    cells = []
    previous_role = ""
    for role, cid, desc in check_columns(exercise):
        edge = " first-client" if previous_role and role != previous_role else ""
        previous_role = role
        short = cid.split(".", 1)[-1].replace("_", " ")
        cells.append(f'<th class="k{edge}" scope="col" data-check="{_e(cid)}" title="{_e(cid)}: '
                     f'{_e(desc)}"><span>{_e(short)}</span></th>')
    return "".join(cells)


def _legend() -> str:
    return ('<p class="legend" id="legend">' + "".join(
        f'<span><b>{_MARK[code]}</b> {_LEGEND.get(code, _WORD[code])}</span> ' for code in _MARK) + "</p>")


def _filters(exercise: Exercise) -> str:
    groups = []
    for role in ROLES:
        options = "".join(f'<option value="{_e(cid)}">{_e(cid)}</option>'
                          for r, cid, _ in check_columns(exercise) if r == role)
        groups.append(f'<optgroup label="{role.capitalize()}">{options}</optgroup>')
    results = "".join(f'<option value="{value}" data-codes="{codes}">{label}</option>'
                      for value, label, codes in RESULT_GROUPS)
    return ('<div class="filters needs-js" id="filters"><label>Check <select id="filter-check">'
            f'<option value="">any check</option>{"".join(groups)}</select></label>'
            '<label>Result <select id="filter-result"><option value="">all students</option>'
            f'{results}</select></label><button type="button" id="filter-clear" hidden>Clear filter'
            '</button></div><p id="filter-state" class="needs-js" role="status" aria-live="polite"></p>')


def _clip(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return _e(text)
    return (_e(text[:MAX_OUTPUT_CHARS]) + f"\n<span class=\"muted\">[... {len(text) - MAX_OUTPUT_CHARS} "
            "more characters; results.json has the whole output]</span>")


def _report_details(report: Report) -> str:
    rows = []
    for c in report.checks:
        extra = "".join(f"<div><span class=\"muted\">{label}:</span> {_e(value)}</div>"
                        for label, value in (("expected", c.expected), ("actual", c.actual),
                                             ("hint", c.hint)) if value)
        extra += "".join(f"<div class=\"muted\">{_e(n)}</div>" for n in c.notes)
        rows.append('<tr>'
                    f'<td class="{c.status.value}">{c.status.value}</td><td>{_e(c.id)}</td>'
                    f'<td>{_e(c.description)}{extra}</td>'
                    f'<td class="n">{_num(c.points)}/{_num(c.max_points)}</td></tr>')
    parts = [f'<table class="checks"><thead><tr><th>result</th><th>check</th><th>what it checks'
             f'</th><th class="n">points</th></tr></thead><tbody>{"".join(rows)}</tbody></table>']
    facts = []
    if report.stopped_because:
        facts.append(f"stopped: {_e(report.stopped_because)}")
    if report.exit_status is not None:
        facts.append(f"exit status {report.exit_status}")
    if report.requested_address:
        facts.append(f"asked for {_e(report.requested_address)}")
    facts.append(f"{report.duration:.2f} s")
    parts.append(f'<p class="muted">{"; ".join(facts)}</p>')
    parts.extend(f"<p>{_e(n)}</p>" for n in report.notes)
    if report.stdout:
        parts.append(f"<div>Console output:</div><pre class=\"stdout\">{_clip(report.stdout)}</pre>")
    if report.stderr:
        parts.append(f"<div>Errors:</div><pre class=\"stderr\">{_clip(report.stderr)}</pre>")
    parts.append(_exchange(report))
    if report.timeline:
        lines = "".join(f"<tr><td class=\"n\">{t.t:.3f}</td><td>{_e(t.source)}</td><td>{_e(t.text)}</td></tr>"
                        for t in report.timeline[:500])
        parts.append(f"<details><summary>Timeline ({len(report.timeline)} events)</summary>"
                     f"<table class=\"checks timeline\"><tbody>{lines}</tbody></table></details>")
    return "".join(parts)


def _exchange(report: Report) -> str:
    """The exchange as a sequence diagram, its steps as text beside it; the script draws the
    picture from them when the details open (one inline SVG per program would double the page)."""
    return render_figure(report, drawn_by_script=True)


def _student_details(result: StudentResult, row_id: str, feedback_file: Optional[str]) -> str:
    parts = []
    for role in ROLES:
        outcome = result.roles[role]
        head = f"<h3>{role.capitalize()}"
        if outcome.file:
            head += f" <span class=\"muted\">{_e(outcome.file)}</span>"
        head += f" &mdash; {_num(outcome.score)}/{_num(outcome.max_score)}</h3>"
        if outcome.report is not None:
            body = _report_details(outcome.report)
        elif outcome.state == "missing":
            body = f"<p class=\"failed\">{_e(missing_advice(role))}</p>"
        else:
            body = f"<p class=\"failed\">Not graded: {_e(outcome.reason)}</p>"
        parts.append(f'<div class="role" data-role="{role}">{head}{body}</div>')
    if result.notes:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in result.notes) + "</ul>")
    if result.extra:
        parts.append("<p>Not graded: " + ", ".join(_e(x) for x in result.extra) + "</p>")
    links = [f'<a href="#open={row_id}">Link to this student</a>']
    if feedback_file:
        # The batch writes feedback/<name>.txt next to this page (batch.run.write_outputs).
        name = f"{feedback_file}.txt"
        links.append(f'Feedback file: <a href="feedback/{_e(quote(name))}">feedback/{_e(name)}</a>')
    parts.append(f'<p class="muted links">{" &middot; ".join(links)}</p>')
    return f'<div class="detail-box">{"".join(parts)}</div>'



def render_html(results: Sequence[StudentResult], *, layout: str = "", unmatched: Sequence[str] = (),
                feedback_files: Optional[Mapping[str, str]] = None, title: str = "",
                generated: Optional[str] = None, exercise: Exercise = HELLO_WORLD) -> str:
    feedback_files = feedback_files or {}
    title = title or f"{exercise.name}: class results"
    generated = generated or time.strftime("%Y-%m-%d %H:%M")
    nonce = secrets.token_urlsafe(16)
    scores = [r.score for r in results]
    max_score = max((r.max_score for r in results), default=0.0)
    statuses: Dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    cards = [("students", len(results)),
             ("mean", f"{statistics.mean(scores):.1f}" if scores else "-"),
             ("median", _num(statistics.median(scores)) if scores else "-"),
             ("full marks", sum(1 for r in results if r.max_score and r.score == r.max_score))]
    cards += [(s, statuses.get(s, 0)) for s in ("missing", "error", "late") if statuses.get(s)]
    worst = failed_checks(results, exercise)[:3]

    bodies = []
    for i, r in enumerate(results):
        row_id = f"s{i}"
        server, client = r.roles["server"], r.roles["client"]
        codes = check_codes(r, exercise)
        # The main row's id is "open=<row id>" so that #open=s3 finds the row even without the
        # script (which also opens the details).
        bodies.append(
            f'<tbody id="{row_id}" data-key="{_e(r.key)}" data-student="{_e(r.student.lower())}" '
            f'data-status="{_e(r.status)}" data-server="{server.score:g}" data-client="{client.score:g}" '
            f'data-total="{r.score:g}" data-checks="{codes}">'
            f'<tr class="main" id="open={row_id}"><th class="name" scope="row"><button class="who" '
            f'type="button" aria-expanded="true" aria-controls="{row_id}-detail">{_e(r.student)}'
            f'</button></th>'
            f'<td class="n total">{_num(r.score)}/{_num(r.max_score)}</td>'
            f'<td class="status s-{_e(r.status)}">{_e(r.status)}</td>'
            f'<td class="n">{_num(server.score)}/{_num(server.max_score)}</td>'
            f'<td class="n">{_num(client.score)}/{_num(client.max_score)}</td>'
            f'{_matrix_cells(r, codes, exercise)}</tr>'
            f'<tr class="detail" id="{row_id}-detail"><td colspan="{5 + len(codes)}">'
            f'{_student_details(r, row_id, feedback_files.get(r.key))}</td></tr></tbody>')

    unmatched_html = ""
    if unmatched:
        unmatched_html = ("<h2>Files that belong to no student</h2><p>These were not graded; check "
                          "whether they were misnamed.</p><ul id=\"unmatched\">"
                          + "".join(f"<li>{_e(u)}</li>" for u in unmatched) + "</ul>")
    worst_html = ""
    if worst:
        worst_html = ("<p>Most often failed: " + ", ".join(
            f"<b>{_e(c)}</b> ({f} of {g})" for c, f, g in worst) + ".</p>")
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    n_checks = {role: sum(1 for r, _, _ in check_columns(exercise) if r == role) for role in ROLES}
    groups = "".join(f'<th class="group{" first-client" if i else ""}" colspan="{n_checks[role]}" '
                     f'scope="colgroup">{role.capitalize()} checks</th>' for i, role in enumerate(ROLES))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style>
<script nonce="{nonce}">{HEAD_SCRIPT}</script></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{_e(layout)}{" &middot; " if layout else ""}generated {_e(generated)}</p>
<ul class="cards" id="summary">{"".join(f"<li><b>{_e(v)}</b>{_e(k)}</li>" for k, v in cards)}</ul>
{worst_html}
<div class="charts">
<figure>{_histogram(scores, max_score)}<figcaption>Students per total score.</figcaption></figure>
<figure>{_pass_rate_chart(pass_rates(results, exercise))}<figcaption>Share of graded programs that pass each
check (missing programs are not counted). <span class="needs-js">Click a check to list the students
who did not pass it.</span></figcaption></figure>
</div>
<h2 id="students-heading">Students</h2>
{_filters(exercise)}
<div class="toolbar needs-js"><button type="button" id="expand-all">Show all details</button><button
type="button" id="collapse-all">Hide all details</button> <span class="muted">Click a column to sort,
a name for that student's checks, output and timeline.</span></div>
{_legend()}
<div class="table-wrap">
<table id="students" aria-labelledby="students-heading"><thead><tr>
<th data-key="student" data-type="text" class="name" rowspan="2" scope="col"><button type="button">Student</button></th>
<th data-key="total" data-type="num" class="n" rowspan="2" scope="col"><button type="button">Total</button></th>
<th data-key="status" data-type="text" rowspan="2" scope="col"><button type="button">Status</button></th>
<th data-key="server" data-type="num" class="n" rowspan="2" scope="col"><button type="button">Server</button></th>
<th data-key="client" data-type="num" class="n" rowspan="2" scope="col"><button type="button">Client</button></th>
{groups}</tr><tr>{_matrix_headers(exercise)}</tr></thead>
{"".join(bodies)}
</table>
</div>
{unmatched_html}
<script nonce="{nonce}">{SCRIPT}</script>
</body></html>
"""
