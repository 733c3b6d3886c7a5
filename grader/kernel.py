"""What the kernel shows of a program's TCP connections (Linux), for facts the program cannot forge.

``/proc/<pid>/net/tcp`` (and ``tcp6``) lists every TCP socket of the network namespace that
``pid`` lives in, with its addresses, state and inode.  The inode is 0 for a socket no file
descriptor refers to: a connection still waiting in a listener's queue (nobody has accept()ed it
yet), or one whose last descriptor was closed (the kernel finishes it alone).  So, for the
program's end of a connection to the reference counterpart:

* a non-zero inode means some process holds it: after accept(), before close();
* a zero inode, or no entry at all, means no process holds it (or the connection is fully
  closed: a socket still held after both sides' FIN leaves the table, so whether it was
  close()d is asked of the descriptor tables instead, by its inode: ``open_socket_inodes``).

Elsewhere (macOS, Windows, a /proc that cannot be read) every answer is None: "cannot tell".
"""
from __future__ import annotations

import os
import socket
import sys
from typing import Iterable, List, Optional, Sequence, Set, Tuple

IS_LINUX = sys.platform.startswith("linux")
LISTEN = "0A"


def _hex_address(host: str, port: int, ipv6: bool) -> Optional[str]:
    """``host:port`` as /proc/net/tcp writes it: the address in the kernel's byte order."""
    try:
        if ipv6:
            if ":" not in host:
                host = "::ffff:" + host
            packed = socket.inet_pton(socket.AF_INET6, host)
            words = [packed[i:i + 4][::-1] for i in range(0, 16, 4)]
            text = b"".join(words).hex().upper()
        else:
            if host.startswith("::ffff:"):
                host = host[7:]
            text = socket.inet_aton(host)[::-1].hex().upper()
    except (OSError, ValueError, TypeError):
        return None
    return "%s:%04X" % (text, port)


def _rows(pid: Optional[int], ipv6: bool):
    """The rows of the namespace's table as (local, remote, state, inode); raises OSError."""
    folder = "/proc/%d/net" % pid if pid is not None else "/proc/self/net"
    with open("%s/%s" % (folder, "tcp6" if ipv6 else "tcp")) as table:
        next(table, None)
        for line in table:
            fields = line.split()
            if len(fields) > 9:
                yield fields[1], fields[2], fields[3], fields[9]


def connection_inode(local: Sequence, remote: Sequence, pid: Optional[int] = None) -> Optional[int]:
    """The inode of the socket whose own address is ``local`` and whose peer is ``remote``
    (each ``(host, port)``), in the network namespace of ``pid`` (None: the grader's own).
    0 when no descriptor holds it or no such socket exists; None when this cannot be told."""
    if not IS_LINUX:
        return None
    try:
        (local_host, local_port), (remote_host, remote_port) = local[:2], remote[:2]
        ipv6 = ":" in str(local_host) and not str(local_host).startswith("::ffff:")
        wanted = []
        for v6 in ((True,) if ipv6 else (False, True)):  # an IPv4 peer may sit in tcp6, mapped
            here = _hex_address(str(local_host), int(local_port), v6)
            there = _hex_address(str(remote_host), int(remote_port), v6)
            if here and there:
                wanted.append((v6, here, there))
    except (TypeError, ValueError):
        return None
    if not wanted:
        return None
    found = 0
    try:
        for v6, here, there in wanted:
            for row_local, row_remote, state, inode in _rows(pid, v6):
                if row_local == here and row_remote == there and state != LISTEN:
                    found = max(found, int(inode))
    except (OSError, ValueError):
        return None
    return found


def open_socket_inodes(pids: Iterable[int]) -> Optional[Set[int]]:
    """The inodes of the sockets that ``pids`` hold open in their descriptor tables (None where
    this cannot be told).  A process that is gone holds nothing."""
    if not IS_LINUX:
        return None
    found: Set[int] = set()
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                found.add(int(target[8:-1]))
    return found


def pid_namespace_members(holder: int) -> List[int]:
    """The processes of the PID namespace that ``holder`` made for its children (a sandbox)."""
    try:
        wanted = os.readlink("/proc/%d/ns/pid_for_children" % holder)
        entries = os.listdir("/proc")
    except OSError:
        return []
    members = []
    for entry in entries:
        if entry.isdigit():
            try:
                if os.readlink("/proc/%s/ns/pid" % entry) == wanted:
                    members.append(int(entry))
            except OSError:
                continue
    return members


def endpoint(address: object) -> Optional[Tuple[str, int]]:
    """``[host, port]`` from an event or a socket, checked; else None."""
    if isinstance(address, (list, tuple)) and len(address) >= 2 and isinstance(address[0], str) \
            and isinstance(address[1], int) and not isinstance(address[1], bool):
        return address[0], address[1]
    return None
