"""The style sheet and the script of ``report.html`` (kept apart from the markup they serve).

The script only enhances: without it every row and every student's details are shown.  It adds
sorting, opening one student's details, the check/result filter, and reads the address
(``#sort=total-desc``, ``#open=s3``, ``#check=server.closes&result=failed``).
"""
from grader.report.diagram import DIAGRAM_CSS, DIAGRAM_SCRIPT

CSS = """
:root { --ok:#1a7f37; --bad:#c62828; --skip:#8a6d00; --ink:#1f2328; --mute:#59636e; --line:#d0d7de;
        --focus:#0550ae; --head-h:4rem; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 1.2rem 1.5rem 3rem; max-width: 1200px; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; } h2 { font-size: 1.15rem; margin: 1.8rem 0 .6rem; }
a { color: #0550ae; }
.meta { color: var(--mute); margin: 0 0 1rem; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; margin: .8rem 0; padding: 0; list-style: none; }
.cards li { border: 1px solid var(--line); border-radius: 6px; padding: .45rem .8rem; min-width: 7rem; }
.cards b { display: block; font-size: 1.3rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem 2rem; align-items: flex-start; }
.charts figure { margin: 0; flex: 1 1 22rem; min-width: 0; max-width: 560px; }
figcaption { color: var(--mute); font-size: .9rem; margin-top: .3rem; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
.rates { list-style: none; margin: 0; padding: 0; }
.rates li { margin: 0; }
.rate { all: unset; box-sizing: border-box; display: grid; width: 100%; cursor: pointer;
        grid-template-columns: minmax(6rem, 11rem) 1fr 3.2rem; gap: .5rem; align-items: center;
        padding: 1px 2px; font-size: 12px; }
.rate:hover .rate-id { text-decoration: underline; }
.rate-id { text-align: right; overflow-wrap: anywhere; }
.rate-bar { display: block; height: 12px; background: #eaeef2; }
.rate-fill { display: block; height: 100%; }
.rate-good .rate-fill { background: #1a7f37; } .rate-mid .rate-fill { background: #bf8700; }
.rate-low .rate-fill { background: #c62828; }
.rate-pct { font-variant-numeric: tabular-nums; }
html:not(.js) .rate { cursor: default; }
.filters { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center; margin: .4rem 0; }
.filters label { display: inline-flex; gap: .3rem; align-items: center; }
.filters select, .toolbar button, #filter-clear { font: inherit; }
#filter-state { margin: .3rem 0 .6rem; font-weight: 600; }
html:not(.js) .needs-js { display: none; }
.legend { color: var(--mute); margin: .2rem 0 .5rem; }
.legend span { white-space: nowrap; margin-right: .8rem; }
.table-wrap { position: relative; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; }
#students > thead { position: sticky; top: 0; z-index: 3; box-shadow: 0 1px 0 var(--line); }
#students thead th button { all: unset; cursor: pointer; font-weight: 600; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
/* The name stays in view when the table scrolls sideways (on a phone). */
#students .name { position: sticky; left: 0; z-index: 1; background: #fff; min-width: 8rem;
                  box-shadow: inset 0 -1px 0 var(--line); overflow-wrap: anywhere; font-weight: normal; }
#students thead th.name { background: #f6f8fa; z-index: 4; font-weight: 600; }
#students tr.main { scroll-margin-top: var(--head-h); }
button.who { all: unset; cursor: pointer; color: #0550ae; text-decoration: underline; }
.status { font-weight: 600; } .s-graded { color: var(--ok); } .s-missing, .s-error { color: var(--bad); }
.s-late { color: var(--skip); }
/* The matrix: one narrow cell per check, a symbol that reads without colour. */
#students th.group { text-align: center; font-weight: 600; padding: .2rem; font-size: .85rem; }
#students th.k { padding: .3rem .1rem; vertical-align: bottom; font-weight: 500; font-size: 11px; }
#students th.k span { display: block; writing-mode: vertical-rl; transform: rotate(180deg);
                      max-height: 7.5em; margin: 0 auto; white-space: normal; line-height: 1.15; }
#students td.k { text-align: center; padding: .35rem .1rem; width: 1.6rem; min-width: 1.6rem;
                 font-weight: 700; }
#students th.k.picked { background: #ddf4ff; }
#students .first-client { border-left: 2px solid #8c959f; }
td.k.p { color: var(--ok); } td.k.f { color: #fff; background: var(--bad); }
td.k.s { color: var(--skip); background: #fff4d1; } td.k.m { color: var(--mute); background: #eaeef2; }
td.k.e { color: var(--bad); background: #fde2e1; }
tr.detail > td { background: #fafbfc; padding: .6rem 1rem 1rem; }
html.js:not([data-ready]) tr.detail { display: none; }
.role { margin: .4rem 0 1rem; }
.checks td, .checks th { border-bottom: 1px solid #eaeef2; font-size: .92rem; }
.passed { color: var(--ok); } .failed { color: var(--bad); } .skipped { color: var(--skip); }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: .5rem;
      border-radius: 4px; max-height: 24rem; overflow: auto; margin: .3rem 0; }
.toolbar { margin: .4rem 0 .6rem; } .toolbar button { margin-right: .4rem; }
.muted { color: var(--mute); }
/* A phone or a narrow window: the table scrolls inside its own box (with its header and the
   names sticking), the page never scrolls sideways, and a student's details fit the screen. */
@media (max-width: 60rem) {
  body { padding: .8rem .6rem 2rem; }
  .table-wrap { overflow: auto; max-height: 85vh; border: 1px solid var(--line); }
  #students .name { max-width: 10rem; }
  .detail-box { position: sticky; left: .5rem; width: calc(100vw - 3.5rem); }
  tr.detail > td { padding: .5rem 0; }
  .detail-box { overflow-x: auto; }
  .checks td, .checks th { padding: .3rem .25rem; }
  .checks td:nth-child(2) { overflow-wrap: anywhere; min-width: 5rem; }
}
/* Where the keyboard is must always be visible (last, so no rule above can take it away). */
body :focus-visible, #students :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 2px; }
"""

# Runs in <head>: marks the page as scripted before the body is drawn, so details start closed
# without a flash of every student's details.
CSS += DIAGRAM_CSS  # each student's details show the exchange as a sequence diagram

HEAD_SCRIPT = "document.documentElement.className = 'js';"

SCRIPT = """
(function () {
  var table = document.getElementById('students');
  var heads = table.querySelectorAll('th[data-key]');
  function bodies() { return Array.prototype.slice.call(table.tBodies); }
  function sortBy(key, dir) {
    var th = table.querySelector('th[data-key="' + key + '"]');
    if (!th) return;
    var numeric = th.getAttribute('data-type') === 'num';
    var list = bodies();
    list.sort(function (a, b) {
      var x = a.getAttribute('data-' + key), y = b.getAttribute('data-' + key);
      var c = numeric ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
      if (c === 0) c = a.getAttribute('data-student').localeCompare(b.getAttribute('data-student'));
      return dir === 'desc' ? -c : c;
    });
    list.forEach(function (b) { table.appendChild(b); });
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
  bodies().forEach(function (body) {
    setOpen(body, false);
    body.querySelector('button.who').addEventListener('click', function () {
      setOpen(body, body.querySelector('tr.detail').hidden);
    });
  });
  document.getElementById('expand-all').addEventListener('click', function () {
    bodies().forEach(function (b) { if (!b.hidden) setOpen(b, true); });
  });
  document.getElementById('collapse-all').addEventListener('click', function () {
    bodies().forEach(function (b) { setOpen(b, false); });
  });

  // The filter: students whose result on a check (or on any check) is in a group of results.
  // Each row carries one letter per check in data-checks: p f s m e (see the legend).
  var checkSel = document.getElementById('filter-check');
  var resultSel = document.getElementById('filter-result');
  var clearBtn = document.getElementById('filter-clear');
  var state = document.getElementById('filter-state');
  var column = {};
  table.querySelectorAll('thead th[data-check]').forEach(function (th, i) {
    column[th.getAttribute('data-check')] = i;
  });
  function applyFilter() {
    var check = checkSel.value, result = resultSel.value;
    var want = result ? resultSel.selectedOptions[0].getAttribute('data-codes') : '';
    var shown = 0, list = bodies();
    list.forEach(function (b) {
      var codes = b.getAttribute('data-checks'), match = !want;
      if (want && check in column) {
        match = want.indexOf(codes.charAt(column[check])) >= 0;
      } else if (want) {
        for (var i = 0; i < codes.length && !match; i++) match = want.indexOf(codes.charAt(i)) >= 0;
      }
      b.hidden = !match;
      if (match) shown++;
    });
    var text = shown + ' of ' + list.length + ' students shown';
    if (want) {
      text += ': ' + resultSel.selectedOptions[0].textContent.toLowerCase() + ' '
        + (check in column ? check : 'any check');
    }
    state.textContent = text + '.';
    clearBtn.hidden = !want;
    table.querySelectorAll('thead th[data-check]').forEach(function (th) {
      th.classList.toggle('picked', !!want && th.getAttribute('data-check') === check);
    });
    document.documentElement.setAttribute('data-shown', String(shown));
  }
  checkSel.addEventListener('change', function () {
    if (checkSel.value && !resultSel.value) resultSel.value = 'notpassed';
    applyFilter();
  });
  resultSel.addEventListener('change', applyFilter);
  clearBtn.addEventListener('click', function () {
    checkSel.value = ''; resultSel.value = ''; applyFilter(); checkSel.focus();
  });
  function filterTo(check, result) {
    checkSel.value = check in column ? check : '';
    resultSel.value = result;
    if (resultSel.selectedIndex < 0) resultSel.value = '';
    applyFilter();
  }
  // A check's pass-rate bar shows the students who did not pass it.
  document.querySelectorAll('button.rate').forEach(function (b) {
    b.addEventListener('click', function () {
      filterTo(b.getAttribute('data-check'), 'notpassed');
      document.getElementById('filters').scrollIntoView();
    });
  });

  // Rows scrolled to (#open=...) stop below the sticky header, whatever its height.
  function measureHeader() {
    var h = table.tHead.getBoundingClientRect().height;
    document.documentElement.style.setProperty('--head-h', Math.ceil(h + 6) + 'px');
  }
  measureHeader();
  window.addEventListener('resize', measureHeader);

  // The address can ask for a view: #sort=total-desc, #open=<row id>, #check=<id>&result=<group>.
  function fromHash() {
    var check = null, result = '', open = null;
    location.hash.slice(1).split('&').forEach(function (part) {
      var kv = part.split('='), value = decodeURIComponent(kv[1] || '');
      if (kv[0] === 'sort') {
        var m = value.match(/^(.*?)(?:-(asc|desc))?$/);
        sortBy(m[1], m[2] || 'asc');
      } else if (kv[0] === 'check') {
        check = value;
      } else if (kv[0] === 'result') {
        result = value;
      } else if (kv[0] === 'open') {
        open = value;
      }
    });
    if (check !== null || result) filterTo(check || '', result || 'notpassed');
    var body = open && document.getElementById(open);
    if (body && body.tagName === 'TBODY') {
      if (body.hidden) filterTo('', '');
      setOpen(body, true);
      body.rows[0].scrollIntoView({block: 'start'});
    }
  }
  window.addEventListener('hashchange', fromHash);
  applyFilter();
  fromHash();
  document.documentElement.setAttribute('data-ready', 'yes');
})();
"""
SCRIPT += DIAGRAM_SCRIPT  # draws a student's diagrams when their details open
