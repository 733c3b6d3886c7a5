"""The judging half of the grader on any trace: whatever events of the probe's shapes arrive, in
whatever order and with whatever values (a program that knows the probe's key can write any of
them), and whatever the counterpart saw, the checks, the notes and the timeline give a report.
Never an exception: a failing student must not be able to turn a grade into an error."""
from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings, strategies as st

from grader.running import events
from grader.judging.checks import Context, evaluate
from grader.judging.checks.facts import Facts
from grader.exercises.default import HELLO_WORLD
from grader.grading import _notes, _requested_address
from grader.running.peers import Observation
from grader.report import render
from grader.judging.results import Report
from grader.running.runner import CapturedStream, RunOutput
from grader.running.session import STALLED_ACCEPT, STALLED_RECV, STOPPED_TIME_LIMIT, Trace
from grader.judging.timeline import build_timeline

NOW = time.monotonic()
MAIN = 42

text = st.text(max_size=30) | st.sampled_from(["Hello World!", "Waiting for connection...", "b'Hello World!'",
                                               "Connection request accepted!", "Message sent!", "\n", ""])
small = st.integers(min_value=-3, max_value=6)
anything = st.none() | st.booleans() | small | st.integers() | st.floats(allow_nan=False) | text | \
    st.lists(text | small, max_size=3)
address = st.lists(st.sampled_from(["127.0.0.1", "::1", "", "x", "0.0.0.0"]) | text, min_size=2, max_size=2).map(
    lambda pair: [pair[0], pair[1]]) | st.tuples(st.sampled_from(["127.0.0.1", "::1", ""]),
                                                 st.integers(min_value=0, max_value=70000)).map(list) | \
    st.text(max_size=3)


def field(name, test):
    pool = {"requested": address, "address": address, "peer": address, "local": address,
            "data": st.text(alphabet=st.characters(max_codepoint=255), max_size=20)}.get(name, anything)
    return pool.filter(test)


@st.composite
def event(draw):
    kind = draw(st.sampled_from(sorted(events.SHAPES)))
    shape = events.SHAPES[kind]
    chosen = draw(st.lists(st.sampled_from(sorted(shape)), unique=True)) if shape else []
    fields = {name: draw(field(name, shape[name])) for name in chosen}
    fields.update(kind=kind, seq=draw(small), t=NOW + draw(st.floats(-5, 5)),
                  pid=draw(st.sampled_from([MAIN, MAIN, 43])))
    assert events.problem(fields, NOW) is None
    return fields


@st.composite
def observation(draw):
    obs = Observation()
    obs.connected = draw(st.booleans())
    obs.connected_at = NOW if obs.connected else None
    obs.program_address = draw(st.none() | st.just(("127.0.0.1", 5000)))
    obs.own_address = draw(st.none() | st.just(("127.0.0.1", 40000)))
    obs.connect_error = draw(st.none() | st.just("ConnectionRefusedError: refused"))
    obs.received = draw(st.binary(max_size=20) | st.just(b"Hello World!"))
    obs.received_total = len(obs.received)
    obs.pieces = [len(obs.received)] if obs.received else []
    obs.ended = draw(st.sampled_from([None, "eof", "reset", "stopped"]))
    obs.ended_at = NOW if obs.ended else None
    obs.program_alive_at_end = draw(st.none() | st.booleans())
    obs.program_socket = draw(st.none() | st.integers(0, 3))
    return obs


@st.composite
def trace(draw, role):
    captured = draw(st.text(max_size=80) | st.just("Waiting for connection...\nHello World!\n"))
    stream = CapturedStream(captured, draw(st.integers(0, 3)))
    output = RunOutput(stream, CapturedStream(draw(text), 0), draw(st.none() | small), draw(small), 0,
                       draw(st.just(()) | st.just(("1 line(s) written into the grader's event channel",))))
    events_ = draw(st.lists(event(), max_size=12))
    if draw(st.booleans()):  # a program that started and made a socket: every check is judged
        events_ = [dict(kind="start", file="x.py", seq=1, t=NOW, pid=MAIN),
                   dict(kind="socket", sock=1, family=2, type=1, seq=2, t=NOW, pid=MAIN)] + events_
        if draw(st.booleans()):
            events_.insert(2, dict(kind="bind", ok=True, sock=1, requested=draw(address), seq=3, t=NOW, pid=MAIN))
    return Trace(role=role, message=b"Hello World!", events=events_, peer=draw(observation()), output=output,
                 finished_status=draw(st.none() | small), exit_status=draw(st.none() | small),
                 stopped_because=draw(st.sampled_from([None, STOPPED_TIME_LIMIT, STALLED_ACCEPT, STALLED_RECV])),
                 started_at=NOW, duration=1.0, time_limit=5.0, main_pid=draw(st.none() | st.just(MAIN)),
                 listen_verified=draw(st.none() | st.booleans()),
                 connection_inodes={i: draw(st.none() | st.integers(0, 3)) for i in range(len(events_))},
                 open_at_end=draw(st.none() | st.frozensets(st.integers(0, 3))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.sampled_from(["server", "client"]).flatmap(lambda role: st.tuples(st.just(role), trace(role), trace(role))),
       st.booleans())
def test_any_trace_of_well_shaped_events_gets_a_report(case, strict):
    role, first, second = case
    ctx = Context(role=role, exercise=HELLO_WORLD, facts=Facts.of(first), strict=strict,
                  other_facts=Facts.of(second) if role == "client" else None, other_message="Qmxzt Brovk!")
    checks = evaluate(ctx)
    assert [c.id for c in checks] == [s.id for s in HELLO_WORLD.specs(role)]
    report = Report(role=role, file="x.py", checks=checks, notes=tuple(_notes(first)),
                    requested_address=_requested_address(first), timeline=build_timeline(first))
    for form in ("text", "json", "junit"):
        assert render(form, [report], verbose=True)


ODD = [None, True, False, -1, 0, 1, 2 ** 70, -1e9, 0.5, "", "x", "::", "\udcff", "\n", "x" * 5000,
       [], ["", 0], ["x", "y"], ["127.0.0.1", 70000], ["::ffff:1.2.3.4", -1], ["127.0.0.1", 40000], {}]


def test_every_field_of_every_kind_may_hold_any_value_of_its_shape():
    """A grid next to the random search: each field, one odd value at a time, in a trace of a
    program that started and made a socket, with the events a server or client would have."""
    out = RunOutput(CapturedStream("Hello World!\n", 0), CapturedStream("", 0), 0, 0, 0, ())
    obs = Observation()
    obs.connected, obs.own_address, obs.program_address, obs.ended = True, ("127.0.0.1", 40000), \
        ("127.0.0.1", 5000), "eof"
    base = [dict(kind="start", file="x.py"), dict(kind="socket", sock=1, family=2, type=1),
            dict(kind="bind", ok=True, sock=1, requested=["", 12345], address=["127.0.0.1", 5000]),
            dict(kind="listen", ok=True, sock=1, address=["127.0.0.1", 5000], backlog=1),
            dict(kind="accept_call", sock=1, timeout=None, threads=1),
            dict(kind="accept_return", ok=True, sock=1, conn=2, peer=["127.0.0.1", 40000], local=["127.0.0.1", 5000]),
            dict(kind="connect_call", sock=1, requested=["localhost", 12345], via="connect"),
            dict(kind="connect_return", ok=True, sock=1, requested=["localhost", 12345], via="connect",
                 local=["127.0.0.1", 5000]),
            dict(kind="send", ok=True, sock=2, via="sendall", data="Hello World!", size=12),
            dict(kind="recv_call", sock=1, via="recv", bufsize=1024, timeout=None, threads=1),
            dict(kind="recv_return", ok=True, sock=1, via="recv", data="Hello World!", size=12),
            dict(kind="stdout", text="Hello World!\n"), dict(kind="close", sock=2, via="close"),
            dict(kind="finished", status=0)]
    judged = 0
    for kind, shape in sorted(events.SHAPES.items()):
        for name, test in sorted(shape.items()):
            for value in (v for v in ODD if test(v) and (name != "data" or all(ord(c) < 256 for c in v))):
                odd = dict(next((e for e in base if e["kind"] == kind), {"kind": kind}), **{name: value})
                shown = [odd if e["kind"] == kind else e for e in base] if any(e["kind"] == kind for e in base) \
                    else base + [odd]
                trace_events = [dict(e, seq=i, t=NOW, pid=MAIN) for i, e in enumerate(shown)]
                assert all(events.problem(e, NOW) is None for e in trace_events)
                for role in ("server", "client"):
                    trace = Trace(role=role, message=b"Hello World!", events=trace_events, peer=obs, output=out,
                                  finished_status=0, exit_status=0, stopped_because=None, started_at=NOW,
                                  duration=1.0, time_limit=5.0, main_pid=MAIN,
                                  connection_inodes={5: 1}, open_at_end=frozenset({1}))
                    facts = Facts.of(trace)
                    ctx = Context(role=role, exercise=HELLO_WORLD, facts=facts,
                                  other_facts=facts if role == "client" else None, other_message="Hello World!")
                    report = Report(role=role, file="x.py", checks=evaluate(ctx), notes=tuple(_notes(trace)),
                                    requested_address=_requested_address(trace), timeline=build_timeline(trace))
                    assert render("text", [report], verbose=True)
                    judged += 1
    assert judged > 300
