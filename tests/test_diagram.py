"""The exchange as a picture: the sequence diagram of one grading (``grader.report.diagram``), in
``--format html`` and in report.html, drawn from real gradings and looked at in headless Chromium."""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT
from grader.batch.discover import Person
from grader.batch.outcome import GRADED, RoleOutcome, StudentResult
from grader.exercises.default import HELLO_WORLD
from grader.grading import GradeOptions, grade_file
from grader.report import render
from grader.report.bounds import bounded
from grader.report.diagram import MAX_STEPS, WIDTH, describe, render_figure, render_list, render_svg, steps
from grader.report.html import render_html
from grader.judging.results import CRASH, DATA, NOTE, PRINT, STOP, Report, TimelineEntry
from grader.running.session import run_session
from grader.judging.timeline import build_timeline
from test_html_report import CHROMIUM

SVG = "{http://www.w3.org/2000/svg}"
REFERENCE_SERVER = ROOT / "reference" / "server.py"
HANGING = FIXTURES / "server" / "loops_forever_accepting.py"
CRASHING = FIXTURES / "server" / "crash_after_send.py"
HOSTILE = "<script>alert(1)</script>]]>&amp;\x1b[31m\x00 \ud800 \u4f60\u597d" + "\U0001F600" * 30 + " tail" * 40


def _graded(role, path):
    return grade_file(role, Path(path), GradeOptions(timeout=5.0))


@pytest.fixture(scope="module")
def gradings():
    """The three programs of the issue, each graded once: right, hanging, crashing."""
    return {"right": _graded("server", REFERENCE_SERVER), "hanging": _graded("server", HANGING),
            "crashing": _graded("server", CRASHING)}


def _svg(report):
    markup = render_svg(report)
    return markup, ET.fromstring(markup)  # it parses as XML: every text from the program escaped


def _texts(root, cls):
    return ["".join(t.itertext()) for g in root.iter() if g.get("class") == cls
            for t in ([g] if g.tag == SVG + "text" else g.iter(SVG + "text"))]


def _sends(report):
    return [e for e in report.timeline if e.source == "program" and re.match(r"send(all)?\(b", e.text)]


def test_a_right_server_draws_both_lifelines_an_arrow_per_send_its_prints_and_its_close(gradings):
    report = gradings["right"]
    assert report.full_marks
    markup, root = _svg(report)
    assert root.get("role") == "img" and root.find(SVG + "title").text.startswith("Sequence diagram")
    assert "your server" in markup and "reference client" in markup and root.find(SVG + "desc").text
    names = [t.text for t in root.iter(SVG + "text") if t.get("font-weight") == "bold"]
    assert names[:2] == ["your server", "reference client"]
    assert _texts(root, "seq-connect") == ["connect (SYN)"]
    data = _texts(root, "seq-data")
    assert len(data) == len(_sends(report)) >= 1 and data == ["b'Hello World!'"] * len(data)
    printed = _texts(root, "seq-print")
    assert printed == ["printed: " + line for line in report.stdout.splitlines()]
    assert _texts(root, "seq-close") == ["FIN (close)"]  # one FIN: the listening socket's close is none
    assert not _texts(root, "seq-stop") and not _texts(root, "seq-crash")
    # The arrow of the data goes from the program's lifeline to the client's.
    line = next(g for g in root.iter(SVG + "g") if g.get("class") == "seq-data").find(SVG + "line")
    assert float(line.get("x1")) < float(line.get("x2"))


def test_a_hanging_server_shows_where_and_why_the_grader_stopped_it(gradings):
    report = gradings["hanging"]
    _, root = _svg(report)
    stop = _texts(root, "seq-stop")
    assert stop == ["grader stopped the program: " + report.stopped_because]
    assert "accept()" in stop[0]
    drawn = steps(report)
    assert drawn[-1].kind == STOP
    # It printed "Waiting for connection..." twice: both are on its lifeline, the second after the FIN.
    printed = _texts(root, "seq-print")
    assert printed.count("printed: Waiting for connection...") == 2
    kinds = [s.kind for s in drawn]
    assert kinds.index("close") < len(kinds) - 1 - kinds[::-1].index(PRINT)


def test_a_crashing_server_shows_the_exception_by_name(gradings):
    report = gradings["crashing"]
    _, root = _svg(report)
    assert _texts(root, "seq-crash") == ["crashed: ZeroDivisionError"]
    assert len(_texts(root, "seq-data")) == 1 and not _texts(root, "seq-close")  # crashed before close()
    items = re.findall(r"<li>(.*?)</li>", render_list(report))
    assert any("crashed: <code>ZeroDivisionError</code>" in i for i in items)


def test_a_client_connects_and_receives_an_arrow_from_the_reference_server():
    report = _graded("client", ROOT / "reference" / "client.py")
    markup, root = _svg(report)
    assert "your client" in markup and "reference server" in markup
    arrows = {g.get("class"): g.find(SVG + "line") for g in root.iter(SVG + "g") if g.find(SVG + "line") is not None
              and g.get("class", "").startswith("seq-") and g.get("class") != "seq-stop"}
    assert float(arrows["seq-connect"].get("x1")) < float(arrows["seq-connect"].get("x2"))  # the client's
    assert float(arrows["seq-data"].get("x1")) > float(arrows["seq-data"].get("x2"))  # the server's message
    assert _texts(root, "seq-data") == ["b'Hello World!'"]
    kinds = [s.kind for s in steps(report)]
    assert kinds.index("connect") < kinds.index(DATA)  # connected before any data, whatever the clocks say


def test_a_reset_connection_is_drawn_as_an_rst_arrow(tmp_path):
    program = tmp_path / "server.py"
    program.write_text(textwrap.dedent("""\
        import socket, struct
        s = socket.socket()
        s.bind(("", 12345))
        s.listen(1)
        print("Waiting for connection...")
        conn, addr = s.accept()
        print("Connection request accepted!")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # with a zero linger: a reset, not a FIN
        s.close()
        """), encoding="utf-8")
    report = _graded("server", program)
    _, root = _svg(report)
    assert _texts(root, "seq-reset") == ["RST (reset)"]
    line = next(g for g in root.iter(SVG + "g") if g.get("class") == "seq-reset").find(SVG + "line")
    assert float(line.get("x1")) < float(line.get("x2"))  # seen by the client, sent by the server


def test_datagrams_are_arrows_both_ways():
    trace = run_session("server", ROOT / "reference" / "udp_hello" / "server.py", HELLO_WORLD, b"Hello World!",
                        5.0, False, transport="udp")
    report = Report("server", "server.py", (), timeline=build_timeline(trace))
    _, root = _svg(report)
    datagrams = [g for g in root.iter(SVG + "g") if g.get("class") == "seq-datagram"]
    assert len(datagrams) == 2  # the client's request, the server's answer
    directions = [float(g.find(SVG + "line").get("x1")) < float(g.find(SVG + "line").get("x2")) for g in datagrams]
    assert directions == [False, True]
    assert _texts(root, "seq-datagram")[1] == "b'Hello World!'"


def _hostile_report(n_prints=3):
    timeline = [TimelineEntry(0.001 * i, "output", HOSTILE, PRINT, HOSTILE) for i in range(n_prints)]
    timeline += [TimelineEntry(0.5, "program", "x", CRASH, HOSTILE),
                 TimelineEntry(0.6, "reference client", "x", NOTE, HOSTILE),
                 TimelineEntry(0.6, "program", "x", DATA, repr(HOSTILE.encode("utf-8", "surrogatepass"))),
                 TimelineEntry(1.0, "grader", "x", STOP, HOSTILE)]
    return bounded(Report("server", "s.py", (), timeline=tuple(timeline)))


def test_hostile_text_is_escaped_and_cut_to_its_place():
    report = _hostile_report()
    markup, root = _svg(report)
    assert "<script" not in markup and "\x1b" not in markup and "\x00" not in markup and "\ud800" not in markup
    assert not list(root.iter(SVG + "script"))
    for text in root.iter(SVG + "text"):
        content = "".join(text.itertext())
        # In monospace cells (two from U+1100 on), no text is wider than the picture.
        cells = sum(2 if ord(ch) >= 0x1100 else 1 for ch in content)
        assert cells * 6.8 <= WIDTH - 50, content
    assert any(t.endswith("\u2026") for t in _texts(root, "seq-print"))
    figure = render_figure(report)
    assert "&lt;script&gt;" in figure and "<script" not in figure


def test_a_flood_of_steps_is_cut_keeping_the_stop():
    timeline = tuple(TimelineEntry(0.001 * i, "output", "line %d" % i, PRINT, "line %d" % i) for i in range(400))
    report = Report("server", "s.py", (), timeline=timeline + (TimelineEntry(1.0, "grader", "t", STOP, "time limit"),))
    drawn = steps(report)
    assert len(drawn) == MAX_STEPS + 2 and drawn[-1].kind == STOP
    assert describe(drawn[-2], "server") == "grader: (320 more steps are not drawn: see the timeline)"
    assert len(render_svg(report)) < 40_000


def test_reports_without_diagram_marks_draw_nothing():
    old = Report("server", "s.py", (), timeline=(TimelineEntry(0.0, "program", "socket()"),))
    assert render_svg(old) == "" and render_figure(old) == ""
    # ...and a report's marks survive its JSON form (batch re-runs read results.json).
    report = _hostile_report(1)
    again = Report.from_dict(json.loads(json.dumps(report.to_dict())))
    assert render_svg(again) == render_svg(report)


def test_format_html_is_one_self_contained_page_with_checklist_diagram_and_timeline(gradings):
    page = render("html", [gradings["crashing"]])
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert page.count("<svg") == 1 and 'role="img"' in page and '<ol class="seq-steps">' in page
    assert "server.runs" in page and "Score: 8/11" in page and "ZeroDivisionError on line 16" in page
    assert 'class="timeline"' in page and "uncaught ZeroDivisionError: division by zero" in page
    # The command line writes it; --verbose still means the text timeline for the text format.
    run = subprocess.run([sys.executable, "-m", "grader", "server", str(REFERENCE_SERVER), "--format", "html"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0 and run.stdout.count("<svg") == 1 and "Score: 11/11" in run.stdout


# --- In a real browser: the pictures have a size and no text leaves them. ---

_MEASURE = """
var out = [];
document.querySelectorAll('svg.seq-svg').forEach(function (svg) {
  var box = svg.viewBox.baseVal, rect = svg.getBoundingClientRect(), outside = [];
  svg.querySelectorAll('text, rect, line, path').forEach(function (el) {
    var b = el.getBBox();
    if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > box.width + 0.5 || b.y + b.height > box.height + 0.5)
      outside.push(el.tagName + ': ' + (el.textContent || '').slice(0, 60));
  });
  var texts = Array.prototype.map.call(svg.querySelectorAll('text'), function (t) { return t.textContent; });
  out.push({width: rect.width, height: rect.height, outside: outside, texts: texts,
            arrows: svg.querySelectorAll('g line').length});
});
return out;
"""


def _measured(page_html: str, tmp_path: Path, name: str, fragment: str = "") -> list:
    """Open ``page_html`` in headless Chromium and return ``_MEASURE``'s answer.  The page's policy
    lets only the probe's own script in (the program page has none of its own)."""
    nonce = "diagramtest"
    if "script-src" in page_html:
        nonce = re.search(r'<script nonce="([^"]+)">', page_html).group(1)
    else:
        page_html = page_html.replace("default-src 'none';", "default-src 'none'; script-src 'nonce-%s';" % nonce)
    probe = ('<script nonce="%s">window.addEventListener("load", function () { setTimeout(function () {'
             'var p = document.createElement("pre"); p.id = "probe"; p.textContent = JSON.stringify((function () {'
             ' %s })()); document.body.appendChild(p); }, 200); });</script></body>' % (nonce, _MEASURE))
    page = tmp_path / (name + ".html")
    page.write_text(page_html.replace("</body>", probe), encoding="utf-8")
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1100,1400", "--user-data-dir=%s" % (tmp_path / "profile"),
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri() + fragment],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert found, run.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_the_html_pages_of_the_three_programs_in_chromium(gradings, tmp_path):
    for name, report in list(gradings.items()) + [("hostile", _hostile_report())]:
        measured = _measured(render("html", [report]), tmp_path, name)
        assert len(measured) == 1, name
        svg = measured[0]
        assert svg["width"] > 300 and svg["height"] > 100, (name, svg)
        assert svg["outside"] == [], (name, svg["outside"])
        assert len(svg["texts"]) > len(steps(report)), name


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_report_html_draws_the_same_picture_when_a_students_details_open(gradings, tmp_path):
    """The batch report's script draws from the list what ``render_svg`` draws: same texts, same
    arrows, none outside; only the opened student's pictures are drawn."""
    def student(i, server):
        return StudentResult("k%d" % i, "Student %d" % i, (Person("Student %d" % i),), {
            "server": RoleOutcome("server", GRADED, file="s.py", report=server),
            "client": RoleOutcome("client", GRADED, file="c.py", report=_hostile_report(2)._replace(role="client"))})
    results = [student(0, gradings["right"]), student(1, gradings["hanging"]), student(2, gradings["crashing"])]
    page = render_html(results)
    assert "<svg" not in page.split('id="students"', 1)[1]  # drawn by the script, not inlined
    for i in range(3):
        measured = _measured(page, tmp_path, "batch%d" % i, "#open=s%d" % i)
        assert len(measured) == 2, measured  # the opened student's two pictures only
        for svg, report in zip(measured, (results[i].roles["server"].report, results[i].roles["client"].report)):
            _, root = _svg(report)
            assert svg["texts"] == ["".join(t.itertext()) for t in root.iter(SVG + "text")]
            assert svg["arrows"] == len(list(root.iter(SVG + "line"))) - 2  # the two lifelines are not in a <g>
            assert svg["outside"] == [] and svg["width"] > 300


@pytest.mark.parametrize("role", ["server", "client"])
def test_an_echo_exchange_is_drawn_in_cause_order(role):
    """Whatever the clocks' fine print (a send is recorded when the call returns), the picture
    never shows an answer before its question: the client's line comes before the server reads it
    and echoes it, and the reference server's reply after the client's line."""
    from grader.exercises.loader import find_exercise

    report = grade_file(role, ROOT / "reference" / "echo" / ("%s.py" % role), GradeOptions(timeout=5.0),
                        exercise=find_exercise("echo"))
    assert report.full_marks
    arrows = [(s.from_program, s.label) for s in steps(report) if s.kind == DATA]
    client_line, echoed = (arrows[0], arrows[1])
    assert client_line[0] is (role == "client") and echoed[0] is (role == "server")
    assert client_line[1] == echoed[1]  # the same line, back
    kinds = [s.kind for s in steps(report)]
    assert kinds.index("connect") < kinds.index(DATA)
    received = [i for i, s in enumerate(steps(report)) if s.label.startswith("recv() got b'") and s.label != "recv() got b''"]
    assert received and received[0] > [i for i, s in enumerate(steps(report)) if s.kind == DATA and not s.from_program][0]
