"""report.html: self-contained, escaped, and working in a real browser (headless Chromium)."""
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.batch.discover import Person
from grader.batch.feedback import file_names
from grader.batch.outcome import ERROR, GRADED, MISSING, RoleOutcome, StudentResult
from grader.report.html import MAX_OUTPUT_CHARS, check_columns, pass_rates, render_html
from test_batch_support import make_report

EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\">"


def _student(key, name, server_failed=(), client=None, stdout="", server_skipped=()):
    return StudentResult(key, name, (Person(name),), {
        "server": RoleOutcome("server", GRADED, file=f"{key}/server.py",
                              report=make_report("server", server_failed, stdout=stdout,
                                                 skipped=server_skipped)),
        "client": client or RoleOutcome("client", MISSING, reason="no client file found"),
    })


def _class():
    full_client = RoleOutcome("client", GRADED, file="c.py", report=make_report("client"))
    return [
        _student("ann", "Ann", client=full_client),
        _student("evil", EVIL, ["server.closes", "server.exits"], stdout=EVIL + "\n" + "x" * (MAX_OUTPUT_CHARS + 10)),
        _student("bob", "Bob", ["server.sends_message"],
                 client=RoleOutcome("client", ERROR, reason="client.py is empty </td><b>")),
    ]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self.external = [], 0, []
        self.ids, self.fragments, self.feedback_links = set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        self.scripts += tag == "script"
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if (attrs.get("href") or "").startswith("#"):
            self.fragments.append(attrs["href"][1:])
        if tag == "a" and (attrs.get("href") or "").startswith("feedback/"):
            self.feedback_links.append(attrs["href"])  # a file the batch writes beside the page
            return
        for name in ("src", "href"):
            if attrs.get(name) and not attrs[name].startswith(("#", "data:")):
                self.external.append((tag, attrs[name]))
        if any(n.startswith("on") for n in attrs):
            self.external.append((tag, "event handler attribute"))


def test_self_contained_escaped_and_complete():
    page = render_html(_class(), layout="one folder per student", unmatched=["stray <b>.py"],
                       feedback_files={"ann": "Ann.txt"})
    parsed = _Collector()
    parsed.feed(page)
    assert parsed.scripts == 2  # ours only (head and body): the student's <script> is text
    assert parsed.external == []  # no network, no other files, no inline handlers
    assert EVIL not in page and "&lt;script&gt;document.title=&#x27;pwned&#x27;" in page
    assert "stray &lt;b&gt;.py" in page and "client.py is empty &lt;/td&gt;&lt;b&gt;" in page
    assert page.count("<tbody ") == 3 and page.count("<svg") == 1
    assert "more characters; results.json has the whole output" in page
    assert "Content-Security-Policy" in page


def test_pass_rates_count_only_graded_programs():
    rates = {cid: (passed, graded) for cid, _, passed, graded in pass_rates(_class())}
    assert rates["server.closes"] == (2, 3)
    assert rates["client.closes"] == (1, 1)  # Bob's ungradable and the missing clients not counted


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


def _dump_dom(page: Path, fragment: str, profile: Path) -> str:
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom",
         page.as_uri() + fragment],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get "
                    "install chromium; .ci/run installs it)")
def test_page_works_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(_class(), layout="Canvas export"), encoding="utf-8")
    dom = _dump_dom(page, "#sort=total-desc&open=s1", tmp_path / "profile")
    # Our script ran (the CSP nonce lets it), the student's did not.
    assert 'data-ready="yes"' in dom
    assert "data-pwned" not in dom and "<title>pwned" not in dom
    assert "&lt;script&gt;document.title" in dom
    # Sorted by total, highest first: Ann (20), then Bob (9 server, error client), then evil (9).
    order = re.findall(r'<tbody id="(s\d)"', dom)
    totals = [float(t) for t in re.findall(r'<tbody id="s\d"[^>]*data-total="([\d.]+)"', dom)]
    assert order[0] == "s0" and totals == sorted(totals, reverse=True)
    assert re.search(r'<th data-key="total"[^>]*aria-sort="descending"', dom)
    # The requested student's details are open, the others closed.
    assert re.search(r'<tr class="detail" id="s1-detail">', dom)
    assert re.search(r'<tr class="detail" id="s0-detail" hidden="">', dom)
    assert dom.count('class="bar"') >= 1 and dom.count('class="rate ') == 16


# --- Who failed what, without opening anyone: the matrix, its filter, the anchors. ---

def _matrix_class():
    full = RoleOutcome("client", GRADED, file="c.py", report=make_report("client"))
    broken_client = RoleOutcome("client", GRADED, file="c.py", report=make_report("client", ["client.exits"]))
    return [
        _student("ann", "Ann Lee", client=full),
        _student("bob", "Bob", ["server.sends_message"], server_skipped=["server.sent_printed"],
                 client=RoleOutcome("client", ERROR, reason="client.py is empty")),
        _student("cat", "Cat"),  # no client
        _student("zoe", "Zoë <b>", client=broken_client),
    ]


class _Matrix(HTMLParser):
    """Per student row: the matrix cells as (class, title, text)."""

    def __init__(self):
        super().__init__()
        self.rows, self.headers, self._cell = {}, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tbody" and "data-key" in attrs:
            self._row = self.rows.setdefault(attrs["data-key"], {"codes": attrs["data-checks"], "cells": []})
        elif tag == "th" and "data-check" in attrs:
            self.headers.append(attrs["data-check"])
        elif tag == "td" and (attrs.get("class") or "").split()[:1] == ["k"]:
            self._cell = [attrs["class"].split()[1], attrs.get("title"), ""]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row["cells"].append(tuple(self._cell))
            self._cell = None


def test_matrix_shows_every_students_result_on_every_check():
    results = _matrix_class()
    matrix = _Matrix()
    matrix.feed(render_html(results))
    ids = [cid for _, cid, _ in check_columns()]
    assert matrix.headers == ids and len(ids) == 16
    cells = {key: dict(zip(ids, row["cells"])) for key, row in matrix.rows.items()}
    assert all(len(row["cells"]) == 16 and "".join(c[0] for c in row["cells"]) == row["codes"]
               for row in matrix.rows.values())

    assert {c[0] for c in cells["ann"].values()} == {"p"}
    bob = cells["bob"]
    assert bob["server.sends_message"] == ("f", "Bob, server.sends_message: failed", "\u2717")
    assert bob["server.sent_printed"] == ("s", "Bob, server.sent_printed: skipped", "\u2013")
    assert bob["server.runs"] == ("p", "Bob, server.runs: passed", "\u2713")
    assert {bob[c][0] for c in ids if c.startswith("client.")} == {"e"}  # not graded: an error
    assert bob["client.runs"][1:] == ("Bob, client.runs: not graded", "!")
    assert {cells["cat"][c][:1] for c in ids if c.startswith("client.")} == {("m",)}
    assert cells["cat"]["client.exits"][1] == "Cat, client.exits: program missing"
    # A student's name in a title is escaped like anywhere else (the parser gives it back whole).
    assert cells["zoe"]["client.exits"] == ("f", "Zoë <b>, client.exits: failed", "\u2717")
    assert all(c[2].strip() for row in cells.values() for c in row.values())  # never colour alone


def test_every_internal_link_resolves_and_feedback_links_name_the_real_file():
    results = _matrix_class()
    names = file_names((r.key, r.student) for r in results)
    page = render_html(results, feedback_files=names)
    parsed = _Collector()
    parsed.feed(page)
    assert parsed.fragments and all(f in parsed.ids for f in parsed.fragments)
    assert {f"open=s{i}" for i in range(4)} <= set(parsed.fragments)
    # The link points to the file the batch writes (with .txt, the name URL-quoted) and shows it.
    assert sorted(parsed.feedback_links) == sorted(
        f"feedback/{n}.txt".replace("ë", "%C3%AB") for n in names.values())
    assert ">feedback/Ann_Lee.txt</a>" in page and ">feedback/Zoë_b.txt</a>" in page


def test_without_a_script_nothing_is_hidden():
    page = render_html(_matrix_class())
    assert re.search(r"<tr class=\"detail\"[^>]*\bhidden", page) is None
    assert 'id="filter-state"' in page and "html:not(.js) .needs-js { display: none; }" in page


def test_page_for_400_students_stays_small():
    students = [_student(f"k{i}", f"Student Number{i} Lastname", ["server.closes"] if i % 3 else (),
                         stdout="Waiting for connection...\nConnection request accepted!\nMessage sent!\n")
                for i in range(400)]
    size = len(render_html(students).encode("utf-8"))
    assert size < 3_000_000, f"{size // 1024} KB"


def _probe(tmp_path, results, fragment, width, script):
    """Open the page in headless Chromium in a frame ``width`` px wide (a window cannot be made
    narrower than 500 px), run ``script`` (a function body that returns a value) once the page
    has loaded, and return what it returned.  The probe is added with the page's own CSP nonce,
    the only way any script runs in it, and hands its answer to the frame's parent."""
    page = render_html(results, feedback_files=file_names((r.key, r.student) for r in results))
    nonce = re.search(r'<script nonce="([^"]+)">', page).group(1)
    probe = (f'<script nonce="{nonce}">window.addEventListener("load", function () {{ setTimeout('
             f'function () {{ var out = (function () {{ {script} }})(); '
             f'parent.postMessage(JSON.stringify(out), "*"); }}, 100); }});</script></body>')
    (tmp_path / "report.html").write_text(page.replace("</body>", probe), encoding="utf-8")
    frame = tmp_path / "frame.html"
    frame.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe src="report.html{fragment}" '
        f'width="{width}" height="700" style="border:0"></iframe><script>window.addEventListener('
        '"message", function (e) { var p = document.createElement("pre"); p.id = "probe"; '
        'p.textContent = e.data; document.body.appendChild(p); });</script></body></html>',
        encoding="utf-8")
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--window-size={width + 100},900", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", frame.as_uri()],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert found, run.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


def _big_class(n=40):
    return [_student(f"k{i:02d}", f"Student {i:02d} with a long family name", ["server.closes"] if i % 4 == 0 else (),
                     client=RoleOutcome("client", GRADED, file="c.py",
                                        report=make_report("client", ["client.exits"] if i % 5 == 0 else ())))
            for i in range(n)]


# Measures taken in the page: sideways overflow, the first row's name and Total, the row
# #open= asked for against the sticky header, and the focus ring of each kind of control.
_LAYOUT = """
var rect = function (el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
var first = document.querySelector('#students > tbody:not([hidden]) > tr.main');
var target = document.getElementById('s30');
var measured = {scrollWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
  name: rect(first.querySelector('.name')), total: rect(first.querySelector('.total')),
  header: rect(document.querySelector('#students thead')), row: rect(target.rows[0]),
  innerHeight: window.innerHeight, open: !document.getElementById('s30-detail').hidden};
var rings = {};
[['name', 'button.who'], ['sort', 'thead th button'], ['filter', '#filter-check'],
 ['link', '#s30-detail a[href^="feedback/"]'], ['bar', 'button.rate']].forEach(function (pair) {
  var el = document.querySelector(pair[1]);
  el.focus({preventScroll: true});
  var style = getComputedStyle(el);
  rings[pair[0]] = [document.activeElement === el, el.matches(':focus-visible'), style.outlineStyle,
                    parseFloat(style.outlineWidth), style.outlineColor];
});
measured.rings = rings;
return measured;
"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
@pytest.mark.parametrize("width", [375, 1280])
def test_layout_anchor_and_focus_in_chromium(tmp_path, width):
    got = _probe(tmp_path, _big_class(), "#open=s30", width, _LAYOUT)
    # Nothing scrolls the page sideways; the name and the Total of the first row are on screen.
    assert got["viewport"] == width and got["scrollWidth"] <= width
    assert 0 <= got["name"][0] and got["total"][2] <= width
    # #open=s30 opened that student and scrolled the row into view, below the sticky header.
    assert got["open"]
    assert got["header"][3] <= got["row"][1] + 0.5 < got["innerHeight"], got
    # Every kind of control shows where the keyboard is: a solid ring at least 2px wide.
    for kind, (focused, visible, style, thickness, colour) in got["rings"].items():
        assert focused and visible, kind
        assert style == "solid" and thickness >= 2 and colour == "rgb(5, 80, 174)", (kind, style, colour)


_FILTER = """
var check = document.getElementById('filter-check'), result = document.getElementById('filter-result');
var shown = function () { return document.querySelectorAll('#students > tbody:not([hidden])').length; };
var state = function () { return document.getElementById('filter-state').textContent; };
var out = {all: [shown(), state()]};
check.value = 'server.closes'; check.dispatchEvent(new Event('change'));
out.closes = [shown(), state(), result.value, document.getElementById('filter-clear').hidden,
              document.querySelector('th.k.picked').dataset.check];
check.value = ''; result.value = 'failed'; result.dispatchEvent(new Event('change'));
out.anyFailed = [shown(), state()];
document.getElementById('filter-clear').click();
out.cleared = [shown(), state(), check.value, result.value];
document.querySelector('button.rate[data-check="client.exits"]').click();
out.bar = [shown(), state(), Array.prototype.map.call(
  document.querySelectorAll('#students > tbody:not([hidden])'), function (b) { return b.dataset.key; })];
return out;
"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_filter_by_check_and_result_in_chromium(tmp_path):
    results = _big_class(40)  # server.closes fails for every 4th student, client.exits every 5th
    got = _probe(tmp_path, results, "", 1280, _FILTER)
    assert got["all"] == [40, "40 of 40 students shown."]
    # Choosing a check lists who did not pass it, says so, and offers to clear.
    assert got["closes"] == [10, "10 of 40 students shown: did not pass server.closes.", "notpassed",
                             False, "server.closes"]
    assert got["anyFailed"] == [16, "16 of 40 students shown: failed any check."]  # 10 + 8 - 2 both
    assert got["cleared"] == [40, "40 of 40 students shown.", "", ""]
    # A pass-rate bar is a shortcut to the same filter.
    assert got["bar"][:2] == [8, "8 of 40 students shown: did not pass client.exits."]
    assert got["bar"][2] == [f"k{i:02d}" for i in range(0, 40, 5)]
