"""What the kernel shows of a program's TCP connections and UDP sockets (Linux), for facts the
program cannot forge.

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
import struct
import sys
from typing import Iterable, List, Optional, Sequence, Set, Tuple

IS_LINUX = sys.platform.startswith("linux")
LISTEN = "0A"
# linux/netlink.h, linux/sock_diag.h, linux/tcp_states.h
NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, NLMSG_ERROR, TCP_LISTEN = 4, 20, 1, 2, 10


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


def _rows(pid: Optional[int], ipv6: bool, protocol: str = "tcp"):
    """The rows of the namespace's table as (local, remote, state, inode); raises OSError."""
    folder = "/proc/%d/net" % pid if pid is not None else "/proc/self/net"
    with open("%s/%s" % (folder, protocol + "6" if ipv6 else protocol)) as table:
        next(table, None)
        for line in table:
            fields = line.split()
            if len(fields) > 9:
                yield fields[1], fields[2], fields[3], fields[9]


def diag_socket() -> Optional[socket.socket]:
    """A netlink sock_diag socket in the grader's own network namespace (None where there is
    none).  With it, ``connection_inode`` asks the kernel for one connection by its addresses,
    instead of reading the whole table (a few milliseconds each time: the kernel walks every
    bucket of its connection hash to write /proc/net/tcp)."""
    if not IS_LINUX:
        return None
    try:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError):
        return None


def connection_inode(local: Sequence, remote: Sequence, pid: Optional[int] = None,
                     diag: Optional[socket.socket] = None) -> Optional[int]:
    """The inode of the socket whose own address is ``local`` and whose peer is ``remote``
    (each ``(host, port)``), in the network namespace of ``pid`` (None: the grader's own), or
    of ``diag`` (a sock_diag socket of that namespace), which is asked first.  0 when no
    descriptor holds it or no such socket exists; None when this cannot be told."""
    if not IS_LINUX:
        return None
    try:
        (local_host, local_port), (remote_host, remote_port) = local[:2], remote[:2]
        local_host, remote_host, local_port, remote_port = \
            str(local_host), str(remote_host), int(local_port), int(remote_port)
        ipv6 = ":" in local_host and not local_host.startswith("::ffff:")
    except (TypeError, ValueError):
        return None
    if diag is not None:
        try:
            return _ask(diag, local_host, local_port, remote_host, remote_port, ipv6)
        except (OSError, ValueError, struct.error):
            pass  # read the table instead
    found = None
    try:
        for v6 in ((True,) if ipv6 else (False, True)):  # an IPv4 peer may sit in tcp6, mapped
            here = _hex_address(local_host, local_port, v6)
            there = _hex_address(remote_host, remote_port, v6)
            if not (here and there):
                continue
            found = found or 0
            for row_local, row_remote, state, inode in _rows(pid, v6):
                if row_local == here and row_remote == there and state != LISTEN:
                    found = max(found, int(inode))
            if found:
                break
    except (OSError, ValueError):
        return None
    return found


def listener_inodes(host: str, port: int, diag: Optional[socket.socket] = None) -> Optional[Set[int]]:
    """The inodes of the sockets listening where a connection to ``(host, port)`` would go, in
    the grader's network namespace or ``diag``'s; None when this cannot be told."""
    if not IS_LINUX:
        return None
    ipv6 = ":" in host and not host.startswith("::ffff:")
    if diag is not None:
        try:
            inode = _ask(diag, host, port, "::" if ipv6 else "0.0.0.0", 0, ipv6, listening=True)
            return {inode} if inode else set()
        except (OSError, ValueError, struct.error):
            pass  # read the table instead
    found = set()
    try:
        for local, _, state, inode in _rows(None, ipv6):
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(int(inode))
    except (OSError, ValueError):
        return None
    return found


def _ask(diag: socket.socket, local_host: str, local_port: int, remote_host: str, remote_port: int,
         ipv6: bool, listening: bool = False) -> int:
    """One exact look-up over sock_diag (linux/inet_diag.h): the inode of that connection's
    socket, 0 when there is none (or only a listener: the kernel's look-up falls back to it).
    ``listening``: the listener is what is asked for (the remote end then is all zeros)."""
    families = [(socket.AF_INET6, local_host, remote_host)] if ipv6 else \
        [(socket.AF_INET, local_host.replace("::ffff:", ""), remote_host.replace("::ffff:", "")),
         (socket.AF_INET6, "::ffff:" + local_host.replace("::ffff:", ""),
          "::ffff:" + remote_host.replace("::ffff:", ""))]
    for family, here, there in families:
        src, dst = (socket.inet_pton(family, host).ljust(16, b"\0") for host in (here, there))
        request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + \
            struct.pack("!HH", local_port, remote_port) + src + dst + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)
        diag.send(struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0) + request)
        reply = diag.recv(65536)
        length, kind = struct.unpack_from("=IH", reply)
        if kind == NLMSG_ERROR:
            continue  # no such connection (ENOENT) in this family
        state, = struct.unpack_from("=B", reply, 17)
        inode, = struct.unpack_from("=I", reply, 16 + 68)
        if kind == SOCK_DIAG_BY_FAMILY and (state == TCP_LISTEN) == listening:
            return inode
    return 0


def udp_socket_inode(local: Sequence, pid: Optional[int] = None) -> Optional[int]:
    """The inode of the UDP socket bound at ``local`` (``(host, port)``; an IPv4 address also
    matches an IPv6 socket bound to its mapped form), in the network namespace of ``pid`` (None:
    the grader's own), read from ``/proc/net/udp`` and ``udp6``.  A socket bound to every
    interface on that port counts.  0 when there is none; None when this cannot be told.

    A datagram socket has no connection whose end the kernel could show: this is the evidence
    that a socket of that address exists and, with ``open_socket_inodes``, who holds it."""
    if not IS_LINUX:
        return None
    try:
        host, port = str(local[0]), int(local[1])
    except (TypeError, ValueError, IndexError):
        return None
    ipv6 = ":" in host and not host.startswith("::ffff:")
    found = 0
    try:
        for v6 in ((True,) if ipv6 else (False, True)):
            exact = _hex_address(host, port, v6)
            anywhere = _hex_address("::" if v6 else "0.0.0.0", port, v6)
            if exact is None:
                continue
            for row_local, _, _, inode in _rows(pid, v6, "udp"):
                if row_local in (exact, anywhere):
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
