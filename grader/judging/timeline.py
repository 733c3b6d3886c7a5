"""The --verbose timeline: the program's prints and socket calls and what the counterpart saw,
in order, as short lines a student can follow."""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from grader.exercises.default import SERVER
from grader.judging.results import (CALL, CLOSE, CONNECT, CRASH, DATA, DATAGRAM, END, NOTE, PRINT, RESET, SEEN_CLOSE,
                             STOP, TimelineEntry)
from grader.running.session import Trace


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


ACCEPTED = "accept() returned"


class _Marks:
    """What the sequence diagram draws for each of the program's events: (kind, label).

    A close or shutdown is a FIN only on a connection (not on the listening socket), and only
    the first one on that connection: the sockets are followed from accept()/connect()."""

    def __init__(self) -> None:
        self.connections: set = set()
        self.closed: set = set()

    def of(self, event: Dict) -> Tuple[str, str]:
        kind, ok, sock = event.get("kind"), event.get("ok"), event.get("sock")
        if kind in ("exception", "syntax_error"):
            return CRASH, str(event.get("error") or "error")
        if kind == "finished":
            return END, "code finished (status %s)" % event.get("status")
        if ok is False and kind not in ("socket", "close"):
            return CALL, "%s failed: %s" % (kind.split("_")[0].replace("datagram", "send"), event.get("error"))
        if kind == "accept_return":
            self.connections.add(event.get("conn"))
            return CALL, ACCEPTED
        if kind == "connect_call":  # drawn when asked: the reference server may answer before it returns
            self.connections.add(sock)
            return CONNECT, "connect"
        if kind == "connect_return":
            return CALL, "connect() returned"
        elif kind in ("send", "datagram_send"):
            return (DATA if kind == "send" else DATAGRAM), _data(event)
        elif kind in ("recv_return", "datagram_recv_return"):
            data = _data(event)
            return CALL, "%s() got %s" % (event.get("via"), data) + (" (the other side closed)" if data == "b''" else "")
        elif kind in ("close", "shutdown") and sock in self.connections and sock not in self.closed:
            if kind == "shutdown" and event.get("how") == 0:  # SHUT_RD: nothing is sent
                return CALL, "shutdown(SHUT_RD)"
            self.closed.add(sock)
            return CLOSE, "FIN (%s)" % ("shutdown" if kind == "shutdown" else "close")
        return "", ""


def _seen_end(ended: object, marks: _Marks) -> Tuple[str, str]:
    """The counterpart saw the connection end: a reset is drawn as arriving from the program; a
    close the program made itself was drawn already, else the system closed it for the program."""
    if ended == "reset":
        return RESET, "RST (reset)"
    if ended == "eof":
        return (NOTE, "saw the close") if marks.closed else (SEEN_CLOSE, "FIN (closed by the system)")
    return NOTE, "stopped waiting" if ended == "stopped" else str(ended)


def describe(event: Dict) -> Optional[str]:
    """One probe event as a short line (None: an event the timeline does not show)."""
    describe_kind = _DESCRIBE.get(event.get("kind"))
    return describe_kind(event) if describe_kind else None


def build_timeline(trace: Trace) -> Tuple[TimelineEntry, ...]:
    start = trace.started_at
    entries: List[TimelineEntry] = []
    causes: List[TimelineEntry] = []  # the counterpart's actions the program then sees
    marks = _Marks()
    for event in trace.events:
        kind = event.get("kind")
        t = float(event["t"]) - start if isinstance(event.get("t"), (int, float)) else 0.0
        if kind == "stdout":
            text = str(event.get("text", "")).rstrip("\r\n")
            if text:
                entries.append(TimelineEntry(t, "output", text, PRINT, text))
        elif kind in _DESCRIBE:
            entries.append(TimelineEntry(t, "program", _DESCRIBE[kind](event), *marks.of(event)))
    peer = trace.peer
    who = "reference client" if trace.role == SERVER else "reference server"
    if peer.connected_at is not None:
        connect = (CONNECT, "connect") if trace.role == SERVER else ("", "")  # a client's is its own
        # The reference client notes the time once its connect() returned, which can be after the
        # program's accept() returned: the connection was made by then.
        connected = min([peer.connected_at - start] + [e.t for e in entries if e.kind == CALL
                                                       and e.label == ACCEPTED])
        causes.append(TimelineEntry(connected, who, "connected", *connect))
    sent_at = peer.sent_at if peer.sent_at is not None else peer.connected_at
    if peer.sent and sent_at is not None:  # a server's message, an echo exercise's line
        sent = max(sent_at - start, _answered_at(trace.events, peer.received_before_sending, start))
        # A reply goes after what it answers; a first message before what the program makes of it.
        after = entries if peer.received_before_sending else causes
        after.append(TimelineEntry(sent, who, "sent %r" % peer.sent, DATA, repr(peer.sent)))
        if trace.role != SERVER:  # the reference server closes its side once it has sent
            after.append(TimelineEntry(sent, who, "closed its side (it has sent "
                                         "everything)", CLOSE, "FIN"))
    if peer.connect_error:
        entries.append(TimelineEntry(0.0, who, "could not connect: " + peer.connect_error,
                                     NOTE, "could not connect"))
    if peer.hung_up_at is not None:
        causes.append(TimelineEntry(peer.hung_up_at - start, who,
                                     "closed its side (your server was waiting in recv())", CLOSE, "FIN"))
    if peer.ended_at is not None:
        what = {"eof": "saw the connection closed", "reset": "saw the connection reset",
                "stopped": "stopped waiting"}.get(peer.ended or "", str(peer.ended))
        got = "received %r, then %s" % (peer.received, what) if trace.role == SERVER else what
        entries.append(TimelineEntry(peer.ended_at - start, who, got, *_seen_end(peer.ended, marks)))
    entries.extend(_datagram_entries(trace, start, causes))
    if trace.stopped_because:
        entries.append(TimelineEntry(trace.duration, "grader",
                                     "stopped the program: " + trace.stopped_because, STOP, trace.stopped_because))
    # What the counterpart did goes before the program's events of the same time: the program's
    # recv() cannot return before the counterpart sent (the sort keeps this order).
    entries = causes + entries
    entries.sort(key=lambda e: e.t)  # unrounded: the order is the clocks' (one clock, monotonic)
    return tuple(e._replace(t=round(e.t, 4)) for e in entries)


def _answered_at(events: List[Dict], received: int, start: float) -> float:
    """When the program's send that completed the first ``received`` bytes was recorded: a reply
    to them came after it, though the probe records a send only once the call has returned, and
    the counterpart notes its reply as it begins (-inf when there is nothing to answer)."""
    total = 0
    for event in events:
        if received and event.get("kind") == "send" and event.get("ok") and isinstance(event.get("t"), (int, float)):
            total += len(str(event.get("data", "")))
            if total >= received:
                return float(event["t"]) - start
    return float("-inf")


def _datagram_entries(trace: Trace, start: float, causes: List[TimelineEntry]) -> List[TimelineEntry]:
    """What a datagram counterpart sent and received (a UDP session), as timeline lines."""
    seen = trace.datagrams
    if seen is None:
        return []
    who = "reference client" if trace.role == SERVER else "reference server"
    causes += [TimelineEntry(d.at - start, who, "sent %r to %s" % (d.data, _address(list(d.address))),
                             DATAGRAM, repr(d.data)) for d in seen.sent]
    # What it received is drawn once, as the program's send.
    entries = [TimelineEntry(d.at - start, who, "received %r from %s" % (d.data, _address(list(d.address))))
                for d in seen.received]
    entries += [TimelineEntry(d.at - start, "grader",
                              "a datagram %r addressed elsewhere (not to the reference client) arrived there"
                              % (d.data,), NOTE, "a datagram went elsewhere") for d in seen.elsewhere]
    if seen.send_error:
        entries.append(TimelineEntry(0.0, who, "could not send: " + seen.send_error, NOTE, "could not send"))
    return entries
