"""The shape check on the probe's events (grader/running/events.py) and the reader that applies it with
the per-run key (grader/running/runner.py): what the probe writes passes, anything else is refused with a
reason and never reaches the checks, and nothing a program writes into the channel can crash or
swell the grader."""
from __future__ import annotations

import json
import os
import threading
import time

from hypothesis import given, settings, strategies as st

from conftest import ROOT
from grader.running import events
from grader.exercises.default import HELLO_WORLD
from grader.running.runner import MAX_EVENTS, _EventReader
from grader.running.session import run_session

NOW = time.monotonic()


def event(kind, **fields):
    return dict(fields, kind=kind, seq=1, t=NOW, pid=42)


def test_what_the_probe_writes_for_the_reference_programs_passes():
    for role in ("server", "client"):
        trace = run_session(role, ROOT / "reference" / ("%s.py" % role), HELLO_WORLD, b"Hello World!", 5.0)
        assert trace.output.bad_event_lines == 0 and trace.interference == ()
        assert all(events.problem(e) is None for e in trace.events)
        assert {"hello", "start", "socket", "finished"} <= {e["kind"] for e in trace.events}


def test_each_kind_of_mistake_is_refused_with_its_reason():
    cases = {
        "not an object": [1, 2],
        "unknown kind": event("no_such_kind"),
        "seq and pid": dict(event("hello"), pid="me"),
        "impossible time": dict(event("hello"), t=1e308),
        "unexpected field": event("stdout", text="x", extra=1),
        "wrong type": event("accept_return", ok="yes", sock=1, conn=2, peer=["127.0.0.1", 1]),
        "not bytes": event("send", ok=True, sock=1, via="send", data="\u20ac", size=1),
    }
    for reason, bad in cases.items():
        assert reason in (events.problem(bad, NOW) or ""), (reason, bad)


def test_booleans_are_not_integers_and_integers_may_be_large():
    assert events.problem(event("finished", status=True), NOW) is not None
    assert events.problem(event("finished", status=2 ** 100), NOW) is None  # sys.exit(2 ** 100)


json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4),
                          max_leaves=12)


@settings(max_examples=300)
@given(st.sampled_from(sorted(events.SHAPES)), st.dictionaries(st.text(max_size=12), json_value, max_size=6))
def test_any_json_gets_an_answer_never_an_exception(kind, fields):
    answer = events.problem(dict(fields, kind=kind, seq=1, t=NOW, pid=1), NOW)
    assert answer is None or isinstance(answer, str)


# -- the reader ------------------------------------------------------------------------------

KEY = "0123abcd" * 4
PREFIX = ('{"k": "%s", ' % KEY).encode()


def keyed(**fields) -> bytes:
    return PREFIX + json.dumps(fields)[1:].encode() + b"\n"


def read(lines):
    """What the reader delivers and concludes for ``lines`` written into a real pipe."""
    got = []
    r, w = os.pipe()
    reader = _EventReader(r, got.append, KEY)
    reader.start()
    writer = threading.Thread(target=lambda: [os.write(w, line) for line in lines] and None)
    writer.start()
    writer.join(30)
    os.close(w)
    reader.join(30)
    assert not reader.is_alive()
    return got, reader


HELLO = (json.dumps(event("hello")) + "\n").encode()


def test_after_the_hello_only_keyed_well_formed_events_are_delivered():
    stdout = dict(event("stdout", text="hi\n"))
    got, reader = read([HELLO, keyed(**stdout), (json.dumps(stdout) + "\n").encode(),
                        keyed(**event("stdout", text=3)), b"garbage\n",
                        keyed(**event("finished", status=0))])
    assert [e["kind"] for e in got] == ["hello", "stdout", "finished"]
    assert "k" not in got[1]
    found = reader.interference()
    assert any("2 line(s) written into the grader's event channel" in f for f in found), found
    assert any("1 event(s) the grader's probe never writes" in f and "wrong type" in f for f in found), found


def test_the_first_line_must_be_the_probes_hello():
    got, reader = read([(json.dumps(event("stdout", text="x")) + "\n").encode(), keyed(**event("hello"))])
    assert got == [dict(event("hello"))] and reader.interference()


def test_a_line_longer_than_the_probe_writes_is_skipped_in_pieces():
    got, reader = read([HELLO, PREFIX + b"x" * (3 << 20) + b"\n", keyed(**event("finished", status=0))])
    assert [e["kind"] for e in got] == ["hello", "finished"] and reader.interference()


def test_past_the_budget_only_a_few_end_of_program_events_are_kept():
    flood = [keyed(**event("stdout", text="x"))] * (MAX_EVENTS + 100)
    ends = [keyed(**event("exception", error="E", message="m", lineno=1, traceback=""))] * 1000
    got, reader = read([HELLO] + flood + ends + [keyed(**event("finished", status=0))])
    kinds = [e["kind"] for e in got]
    assert kinds.count("stdout") < MAX_EVENTS and 0 < kinds.count("exception") <= 64
    assert reader.interference() == ()  # well-formed and keyed: a flood, bounded, not a forgery
