"""``report.html``: the class at a glance, in one self-contained page.

No network and no other files: the CSS, the script and the charts (inline SVG) are all in the
page, so it can be mailed or opened from a USB stick.  Everything that came from a student
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
from typing import Dict, List, Mapping, Optional, Sequence

from grader.batch.feedback import missing_advice
from grader.batch.outcome import StudentResult
from grader.batch.summary import failed_checks
from grader.exercise import HELLO_WORLD, ROLES
from grader.report.safe_text import markup_text
from grader.results import Report, Status

MAX_OUTPUT_CHARS = 20_000  # a flooding program's output is cut here (the JSON keeps it all)


def _e(value: object) -> str:
    return html.escape(markup_text(value), quote=True)


def _num(value: float) -> str:
    return f"{value:g}"


_CSS = """
:root { --ok:#1a7f37; --bad:#c62828; --skip:#8a6d00; --ink:#1f2328; --mute:#59636e; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 1.2rem 1.5rem 3rem; max-width: 1200px; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; } h2 { font-size: 1.15rem; margin: 1.8rem 0 .6rem; }
.meta { color: var(--mute); margin: 0 0 1rem; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; margin: .8rem 0; padding: 0; list-style: none; }
.cards li { border: 1px solid var(--line); border-radius: 6px; padding: .45rem .8rem; min-width: 7rem; }
.cards b { display: block; font-size: 1.3rem; }
.charts { display: flex; flex-wrap: wrap; gap: 2rem; align-items: flex-start; }
figure { margin: 0; } figcaption { color: var(--mute); font-size: .9rem; margin-top: .3rem; }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
button.who { all: unset; cursor: pointer; color: #0550ae; text-decoration: underline; }
.status { font-weight: 600; } .s-graded { color: var(--ok); } .s-missing, .s-error { color: var(--bad); }
.s-late { color: var(--skip); }
tr.detail > td { background: #fafbfc; padding: .6rem 1rem 1rem; }
.role { margin: .4rem 0 1rem; }
.checks td, .checks th { border-bottom: 1px solid #eaeef2; font-size: .92rem; }
.passed { color: var(--ok); } .failed { color: var(--bad); } .skipped { color: var(--skip); }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: .5rem;
      border-radius: 4px; max-height: 24rem; overflow: auto; margin: .3rem 0; }
.toolbar { margin: .4rem 0 .6rem; } .toolbar button { margin-right: .4rem; }
.muted { color: var(--mute); }
"""

_SCRIPT = """
(function () {
  var table = document.getElementById('students');
  var heads = table.querySelectorAll('th[data-key]');
  function sortBy(key, dir) {
    var th = table.querySelector('th[data-key="' + key + '"]');
    if (!th) return;
    var numeric = th.getAttribute('data-type') === 'num';
    var bodies = Array.prototype.slice.call(table.tBodies);
    bodies.sort(function (a, b) {
      var x = a.getAttribute('data-' + key), y = b.getAttribute('data-' + key);
      var c = numeric ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
      if (c === 0) c = a.getAttribute('data-student').localeCompare(b.getAttribute('data-student'));
      return dir === 'desc' ? -c : c;
    });
    bodies.forEach(function (b) { table.appendChild(b); });
    heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 'desc' ? 'descending' : 'ascending');
  }
  heads.forEach(function (th) {
    th.querySelector('button').addEventListener('click', function () {
      var dir = th.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc';
      sortBy(th.getAttribute('data-key'), dir);
    });
  });
  function setOpen(body, open) {
    body.querySelector('tr.detail').hidden = !open;
    body.querySelector('button.who').setAttribute('aria-expanded', open ? 'true' : 'false');
  }
  Array.prototype.forEach.call(table.tBodies, function (body) {
    body.querySelector('button.who').addEventListener('click', function () {
      setOpen(body, body.querySelector('tr.detail').hidden);
    });
  });
  document.getElementById('expand-all').addEventListener('click', function () {
    Array.prototype.forEach.call(table.tBodies, function (b) { setOpen(b, true); });
  });
  document.getElementById('collapse-all').addEventListener('click', function () {
    Array.prototype.forEach.call(table.tBodies, function (b) { setOpen(b, false); });
  });
  // The address can ask for a view: #sort=total-desc, #open=<row id>.
  function fromHash() {
    location.hash.slice(1).split('&').forEach(function (part) {
      var kv = part.split('='), value = decodeURIComponent(kv[1] || '');
      if (kv[0] === 'sort') {
        var m = value.match(/^(.*?)(?:-(asc|desc))?$/);
        sortBy(m[1], m[2] || 'asc');
      } else if (kv[0] === 'open') {
        var body = document.getElementById(value);
        if (body) { setOpen(body, true); body.scrollIntoView(); }
      }
    });
  }
  window.addEventListener('hashchange', fromHash);
  fromHash();
  document.documentElement.setAttribute('data-ready', 'yes');
})();
"""


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
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
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


def pass_rates(results: Sequence[StudentResult]) -> List[tuple]:
    """(check id, description, passed, graded) per check, in the exercise's order."""
    rows = []
    for role in ROLES:
        for spec in HELLO_WORLD.specs(role):
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
    label_w, bar_max, row_h = 190, 300, 20
    h = row_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_max + 60}" height="{h}" '
             f'role="img" aria-labelledby="rate-title" id="pass-rates"><title id="rate-title">'
             f'Share of graded programs passing each check</title>']
    for i, (cid, desc, passed, graded) in enumerate(rows):
        y = 5 + i * row_h
        share = passed / graded if graded else 0.0
        colour = "#1a7f37" if share >= 0.8 else "#bf8700" if share >= 0.5 else "#c62828"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{_e(cid)}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{bar_max}" height="{row_h - 6}" fill="#eaeef2"/>'
                     f'<rect class="rate" x="{label_w}" y="{y + 2}" width="{bar_max * share:.1f}" '
                     f'height="{row_h - 6}" fill="{colour}" data-check="{_e(cid)}" '
                     f'data-passed="{passed}" data-graded="{graded}"><title>{_e(cid)}: {_e(desc)} '
                     f'({passed} of {graded} passed)</title></rect>'
                     f'<text x="{label_w + bar_max + 6}" y="{y + 13}">'
                     f'{"-" if not graded else f"{round(100 * share)}%"}</text>')
    parts.append("</svg>")
    return "".join(parts)


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
        rows.append(f'<tr class="check-{c.status.value}" data-check="{_e(c.id)}">'
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
    if report.timeline:
        lines = "".join(f"<tr><td class=\"n\">{t.t:.3f}</td><td>{_e(t.source)}</td><td>{_e(t.text)}</td></tr>"
                        for t in report.timeline[:500])
        parts.append(f"<details><summary>Timeline ({len(report.timeline)} events)</summary>"
                     f"<table class=\"checks timeline\"><tbody>{lines}</tbody></table></details>")
    return "".join(parts)


def _student_details(result: StudentResult, feedback_file: Optional[str]) -> str:
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
    if feedback_file:
        parts.append(f"<p class=\"muted\">Feedback file: feedback/{_e(feedback_file)}</p>")
    return "".join(parts)


def render_html(results: Sequence[StudentResult], *, layout: str = "", unmatched: Sequence[str] = (),
                feedback_files: Optional[Mapping[str, str]] = None, title: str = "",
                generated: Optional[str] = None) -> str:
    feedback_files = feedback_files or {}
    title = title or f"{HELLO_WORLD.name}: class results"
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
    worst = failed_checks(results)[:3]

    bodies = []
    for i, r in enumerate(results):
        row_id = f"s{i}"
        server, client = r.roles["server"], r.roles["client"]
        bodies.append(
            f'<tbody id="{row_id}" data-key="{_e(r.key)}" data-student="{_e(r.student.lower())}" '
            f'data-status="{_e(r.status)}" data-server="{server.score:g}" data-client="{client.score:g}" '
            f'data-total="{r.score:g}">'
            f'<tr class="main"><td><button class="who" type="button" aria-expanded="false" '
            f'aria-controls="{row_id}-detail">{_e(r.student)}</button></td>'
            f'<td class="status s-{_e(r.status)}">{_e(r.status)}</td>'
            f'<td class="n">{_num(server.score)}/{_num(server.max_score)}</td>'
            f'<td class="n">{_num(client.score)}/{_num(client.max_score)}</td>'
            f'<td class="n total">{_num(r.score)}/{_num(r.max_score)}</td></tr>'
            f'<tr class="detail" id="{row_id}-detail" hidden><td colspan="5">'
            f'{_student_details(r, feedback_files.get(r.key))}</td></tr></tbody>')

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
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{_e(layout)}{" &middot; " if layout else ""}generated {_e(generated)}</p>
<ul class="cards" id="summary">{"".join(f"<li><b>{_e(v)}</b>{_e(k)}</li>" for k, v in cards)}</ul>
{worst_html}
<div class="charts">
<figure>{_histogram(scores, max_score)}<figcaption>Students per total score.</figcaption></figure>
<figure>{_pass_rate_chart(pass_rates(results))}<figcaption>Share of graded programs that pass each
check (missing programs are not counted).</figcaption></figure>
</div>
<h2>Students</h2>
<div class="toolbar"><button type="button" id="expand-all">Show all details</button><button
type="button" id="collapse-all">Hide all details</button> <span class="muted">Click a column to sort,
a name for that student's checks, output and timeline.</span></div>
<table id="students"><thead><tr>
<th data-key="student" data-type="text"><button type="button">Student</button></th>
<th data-key="status" data-type="text"><button type="button">Status</button></th>
<th data-key="server" data-type="num" class="n"><button type="button">Server</button></th>
<th data-key="client" data-type="num" class="n"><button type="button">Client</button></th>
<th data-key="total" data-type="num" class="n"><button type="button">Total</button></th>
</tr></thead>
{"".join(bodies)}
</table>
{unmatched_html}
<script nonce="{nonce}">{_SCRIPT}</script>
</body></html>
"""
