"""The probe's events as the grader accepts them: the shape of each kind, checked on arrival.

The probe writes exactly these kinds and fields (grader/running/probe/bootstrap.py).  The program shares
the probe's interpreter and can write into its channel, so an event of another shape is evidence
that something other than the probe wrote it: it is refused here with a reason, never handed to
the checks (which may then rely on every field having its type).
"""
from __future__ import annotations

import math
import time
from typing import Callable, Dict, Optional

def _int(value) -> bool:
    # Any size: sys.exit(2 ** 100) is an exit status (json.loads already bounds the digits).
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return _int(value) or (isinstance(value, float) and math.isfinite(value))


def _str(value) -> bool:
    return isinstance(value, str)


def _bool(value) -> bool:
    return isinstance(value, bool)


def _address(value) -> bool:
    """[host, port] of an IP socket, or the repr of any other address."""
    if isinstance(value, str):
        return True
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and (_int(value[1]) or isinstance(value[1], str)))


def _optional(test: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or test(value)


_ERROR = {"error": _str, "message": _str, "errno": _optional(_int)}
_CALL = {"ok": _bool, "sock": _int}
_BLOCKING = {"timeout": _optional(_number), "threads": _int}

# kind -> {field: test}; every event also has seq, kind, t and pid.
SHAPES: Dict[str, Dict[str, Callable[[object], bool]]] = {
    "hello": {},
    "start": {"file": _str},
    "socket": {"sock": _int, "family": _int, "type": _int},
    "bind": dict(_CALL, requested=_address, address=_optional(_address), type=_int, **_ERROR),
    "listen": dict(_CALL, address=_optional(_address), backlog=lambda v: True, **_ERROR),
    "accept_call": dict(sock=_int, **_BLOCKING),
    "accept_return": dict(_CALL, conn=_int, peer=_address, local=_optional(_address), **_ERROR),
    "connect_call": {"sock": _int, "requested": _address, "via": _str},
    "connect_return": dict(_CALL, requested=_address, via=_str, local=_optional(_address), **_ERROR),
    "send": dict(_CALL, via=_str, data=_str, size=_int, data_type=_str, **_ERROR),
    "recv_call": dict(sock=_int, via=_str, bufsize=_optional(_int), **_BLOCKING),
    "recv_return": dict(_CALL, via=_str, data=_str, size=_int, **_ERROR),
    "shutdown": dict(_CALL, how=lambda v: True, **_ERROR),
    # Datagram (UDP) sockets: their own kinds, so no check mistakes a datagram for a connection.
    # requested: the address the program gave (None: send() on a connected socket); to: where the
    # virtual lab network delivered it; local: the program's socket; peer: recvfrom's sender.
    "datagram_connect": dict(_CALL, requested=_address, via=_str, to=_address,
                             local=_optional(_address), **_ERROR),
    "datagram_send": dict(_CALL, via=_str, data=_str, size=_int, data_type=_str,
                          requested=_optional(_address), to=_optional(_address),
                          local=_optional(_address), **_ERROR),
    "datagram_recv_call": dict(sock=_int, via=_str, bufsize=_optional(_int), local=_optional(_address),
                               **_BLOCKING),
    "datagram_recv_return": dict(_CALL, via=_str, data=_str, size=_int, peer=_optional(_address),
                                 **_ERROR),
    "close": {"sock": _int, "via": _str},
    "settimeout": {"sock": _int, "timeout": _optional(_number)},
    "stdout": {"text": _str},
    "stderr": {"text": _str},
    "syntax_error": {"error": _str, "message": _str, "lineno": _optional(_int), "offset": _optional(_int),
                     "text": _str, "traceback": _str},
    "exception": {"error": _str, "message": _str, "lineno": _optional(_int), "traceback": _str},
    "finished": {"status": _int},
    "events_truncated": {"dropped_kind": _str},
    # The probe's own report of a call into it that did not come through a hook.
    "tamper": {"claimed": _str},
}
# Fields whose value must be text that fits in a byte each (the probe writes payloads as latin-1).
_LATIN1 = ("data",)
# How far an event's clock may be from the grader's: both read the same monotonic clock.
_CLOCK_SLACK = 3600.0


def problem(event: object, now: Optional[float] = None) -> Optional[str]:
    """Why ``event`` (a parsed JSON value) is not an event the probe writes; None when it is."""
    if not isinstance(event, dict):
        return "not an object"
    kind = event.get("kind")
    shape = SHAPES.get(kind) if isinstance(kind, str) else None
    if shape is None:
        return "unknown kind %r" % (str(kind)[:40],)
    if not (_int(event.get("seq")) and _int(event.get("pid"))):
        return "%s: seq and pid must be integers" % kind
    t = event.get("t")
    now = time.monotonic() if now is None else now
    if not (_number(t) and abs(t - now) < _CLOCK_SLACK):
        return "%s: impossible time %r" % (kind, str(t)[:40])
    for name, value in event.items():
        if name in ("seq", "kind", "t", "pid"):
            continue
        test = shape.get(name)
        if test is None:
            return "%s: unexpected field %r" % (kind, name[:40])
        if not test(value):
            return "%s: field %r has the wrong type" % (kind, name)
        if name in _LATIN1 and any(ord(ch) > 255 for ch in value):
            return "%s: field %r is not bytes" % (kind, name)
    return None
