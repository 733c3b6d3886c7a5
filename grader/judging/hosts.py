"""Whether a host name a program asked for exists on this computer's network.

Grading sends every connect to the reference program (the virtual lab network), so a placeholder
left in the code (``'ipaddress'``, ``'server-ip'``) still reaches it; run by hand, the call
would fail with "Name or service not known".  The report says so in a note, without changing
the verdict.  Only a definite "no such name" from the resolver counts: a resolver that does not
answer in time, or cannot be reached, is no evidence either way.
"""
from __future__ import annotations

import socket
import threading
from typing import List

# Resolver answers that mean the name does not exist (not "try again later").
_NO_SUCH_NAME = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)}


def is_unknown(host: object, timeout: float = 1.0) -> bool:
    """True when ``host`` is a name (not an address, not empty) that this computer's resolver
    says does not exist, within ``timeout`` seconds."""
    if not isinstance(host, str) or not host.strip() or host == "<broadcast>":
        return False
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.split("%")[0])
            return False  # an address, not a name
        except (OSError, ValueError):
            pass
    answer: List[bool] = []

    def look_up() -> None:
        try:
            socket.getaddrinfo(host, None)
            answer.append(False)
        except socket.gaierror as exc:
            answer.append(exc.errno in _NO_SUCH_NAME)
        except (OSError, UnicodeError, ValueError):
            answer.append(False)

    # In a thread: a resolver can take its own time (seconds per server) to give up.
    worker = threading.Thread(target=look_up, name="host-lookup", daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answer and answer[0])
