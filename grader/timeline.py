"""The --verbose timeline: the program's prints and socket calls and what the counterpart saw,
in order, as short lines a student can follow."""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from grader.exercise import SERVER
from grader.results import TimelineEntry
from grader.session import Trace


def _address(value) -> str:
    if isinstance(value, list) and len(value) == 2:
        return "(%r, %r)" % tuple(value)
    return str(value)


def _data(event: Dict) -> str:
    return repr(event.get("data", "").encode("latin-1"))


def _ok_or_error(event: Dict, text: str) -> str:
    if event.get("ok"):
        return text
    return "%s failed: %s: %s" % (text.split(" ")[0], event.get("error"), event.get("message"))


_DESCRIBE: Dict[str, Callable[[Dict], str]] = {
    "socket": lambda e: "created socket #%s" % e.get("sock"),
    "bind": lambda e: _ok_or_error(e, "bind(%s) on socket #%s (grading ran it on %s)"
                                   % (_address(e.get("requested")), e.get("sock"), _address(e.get("address")))),
    "listen": lambda e: _ok_or_error(e, "listen() on socket #%s" % e.get("sock")),
    "accept_call": lambda e: "accept() called on socket #%s, waiting for a client" % e.get("sock"),
    "accept_return": lambda e: _ok_or_error(e, "accept() returned socket #%s, connected to %s"
                                            % (e.get("conn"), _address(e.get("peer")))),
    "connect_call": lambda e: "connect(%s) called on socket #%s" % (_address(e.get("requested")), e.get("sock")),
    "connect_return": lambda e: _ok_or_error(e, "connect() returned: connected"),
    "send": lambda e: _ok_or_error(e, "%s(%s) on socket #%s" % (e.get("via"), _data(e), e.get("sock"))),
    "recv_call": lambda e: "%s(%s) called on socket #%s" % (e.get("via"), e.get("bufsize") or "", e.get("sock")),
    "recv_return": lambda e: _ok_or_error(e, "%s() returned %s" % (e.get("via"), _data(e))),
    "datagram_connect": lambda e: _ok_or_error(e, "connect(%s) on datagram socket #%s: send() now goes there"
                                               % (_address(e.get("requested")), e.get("sock"))),
    "datagram_send": lambda e: _ok_or_error(e, "%s(%s%s) on datagram socket #%s" % (
        e.get("via"), _data(e), ", " + _address(e.get("requested")) if e.get("requested") else "", e.get("sock"))),
    "datagram_recv_call": lambda e: "%s(%s) called on datagram socket #%s, waiting for a datagram"
                                    % (e.get("via"), e.get("bufsize") or "", e.get("sock")),
    "datagram_recv_return": lambda e: _ok_or_error(e, "%s() returned %s%s" % (
        e.get("via"), _data(e), " from " + _address(e.get("peer")) if e.get("peer") else "")),
    "shutdown": lambda e: _ok_or_error(e, "shutdown(%s) on socket #%s" % (e.get("how"), e.get("sock"))),
    "close": lambda e: "socket #%s closed%s" % (e.get("sock"), " (end of with block)" if e.get("via") == "with" else ""),
    "exception": lambda e: "uncaught %s: %s" % (e.get("error"), e.get("message")),
    "syntax_error": lambda e: "%s: %s (line %s)" % (e.get("error"), e.get("message"), e.get("lineno")),
    "finished": lambda e: "program code finished (status %s)" % e.get("status"),
    "events_truncated": lambda e: "(too many events: the rest is not shown)",
}


def describe(event: Dict) -> Optional[str]:
    """One probe event as a short line (None: an event the timeline does not show)."""
    describe_kind = _DESCRIBE.get(event.get("kind"))
    return describe_kind(event) if describe_kind else None


def build_timeline(trace: Trace) -> Tuple[TimelineEntry, ...]:
    start = trace.started_at
    entries: List[TimelineEntry] = []
    for event in trace.events:
        kind = event.get("kind")
        t = round(float(event.get("t", start)) - start, 4) if isinstance(event.get("t"), (int, float)) else 0.0
        if kind == "stdout":
            text = str(event.get("text", "")).rstrip("\r\n")
            if text:
                entries.append(TimelineEntry(t, "output", text))
        elif kind in _DESCRIBE:
            entries.append(TimelineEntry(t, "program", _DESCRIBE[kind](event)))
    peer = trace.peer
    who = "reference client" if trace.role == SERVER else "reference server"
    if peer.connected_at is not None:
        entries.append(TimelineEntry(round(peer.connected_at - start, 4), who, "connected"))
    if trace.role == SERVER and peer.sent and peer.connected_at is not None:  # an echo exercise's line
        entries.append(TimelineEntry(round(peer.connected_at - start, 4), who, "sent %r" % peer.sent))
    if peer.connect_error:
        entries.append(TimelineEntry(0.0, who, "could not connect: " + peer.connect_error))
    if peer.hung_up_at is not None:
        entries.append(TimelineEntry(round(peer.hung_up_at - start, 4), who,
                                     "closed its side (your server was waiting in recv())"))
    if peer.ended_at is not None:
        what = {"eof": "saw the connection closed", "reset": "saw the connection reset",
                "stopped": "stopped waiting"}.get(peer.ended or "", str(peer.ended))
        got = "received %r, then %s" % (peer.received, what) if trace.role == SERVER else what
        entries.append(TimelineEntry(round(peer.ended_at - start, 4), who, got))
    entries.extend(_datagram_entries(trace, start))
    if trace.stopped_because:
        entries.append(TimelineEntry(round(trace.duration, 4), "grader",
                                     "stopped the program: " + trace.stopped_because))
    entries.sort(key=lambda e: e.t)
    return tuple(entries)


def _datagram_entries(trace: Trace, start: float) -> List[TimelineEntry]:
    """What a datagram counterpart sent and received (a UDP session), as timeline lines."""
    seen = trace.datagrams
    if seen is None:
        return []
    who = "reference client" if trace.role == SERVER else "reference server"
    entries = [TimelineEntry(round(d.at - start, 4), who, "sent %r to %s" % (d.data, _address(list(d.address))))
               for d in seen.sent]
    entries += [TimelineEntry(round(d.at - start, 4), who, "received %r from %s" % (d.data, _address(list(d.address))))
                for d in seen.received]
    entries += [TimelineEntry(round(d.at - start, 4), "grader",
                              "a datagram %r addressed elsewhere (not to the reference client) arrived there"
                              % (d.data,)) for d in seen.elsewhere]
    if seen.send_error:
        entries.append(TimelineEntry(0.0, who, "could not send: " + seen.send_error))
    return entries
