"""report.html: self-contained, escaped, and working in a real browser (headless Chromium)."""
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.batch.discover import Person
from grader.batch.outcome import ERROR, GRADED, MISSING, RoleOutcome, StudentResult
from grader.report.html import MAX_OUTPUT_CHARS, pass_rates, render_html
from test_batch_support import make_report

EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\">"


def _student(key, name, server_failed=(), client=None, stdout=""):
    return StudentResult(key, name, (Person(name),), {
        "server": RoleOutcome("server", GRADED, file=f"{key}/server.py",
                              report=make_report("server", server_failed, stdout=stdout)),
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

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        self.scripts += tag == "script"
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
    assert parsed.scripts == 1  # ours only: the student's <script> is text
    assert parsed.external == []  # no network, no other files, no inline handlers
    assert EVIL not in page and "&lt;script&gt;document.title=&#x27;pwned&#x27;" in page
    assert "stray &lt;b&gt;.py" in page and "client.py is empty &lt;/td&gt;&lt;b&gt;" in page
    assert page.count("<tbody ") == 3 and page.count("<svg") == 2
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
    assert dom.count('class="bar"') >= 1 and dom.count('class="rate"') == 16
