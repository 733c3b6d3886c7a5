"""What grader/running/kernel.py reads of /proc: which socket holds a connection, and which sockets a
process holds.  Real loopback connections in this process, closed at the end."""
from __future__ import annotations

import os
import socket

import pytest

from grader.running import kernel

pytestmark = pytest.mark.skipif(not kernel.IS_LINUX, reason="/proc is Linux's")


@pytest.fixture
def listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s


def test_a_connection_in_the_queue_has_no_owner_until_accepted(listener):
    with socket.create_connection(listener.getsockname()) as client:
        server_end, client_end = listener.getsockname(), client.getsockname()
        assert kernel.connection_inode(server_end, client_end) == 0  # waiting in the queue
        conn, _ = listener.accept()
        inode = kernel.connection_inode(server_end, client_end)
        assert inode and inode == os.fstat(conn.fileno()).st_ino
        assert inode in kernel.open_socket_inodes([os.getpid()])
        conn.shutdown(socket.SHUT_RDWR)  # ended, but still held
        assert kernel.connection_inode(server_end, client_end) == inode
        conn.close()
        assert kernel.connection_inode(server_end, client_end) == 0
        assert inode not in kernel.open_socket_inodes([os.getpid()])
        assert kernel.connection_inode(client_end, server_end) == os.fstat(client.fileno()).st_ino


def test_ipv6_and_ipv4_mapped_connections_are_found():
    with socket.socket(socket.AF_INET6) as listener:
        listener.bind(("::", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            conn, address = listener.accept()
            with conn:
                inode = os.fstat(conn.fileno()).st_ino
                assert kernel.connection_inode(conn.getsockname()[:2], address[:2]) == inode
                assert kernel.connection_inode(("127.0.0.1", port), client.getsockname()) == inode


def test_nothing_there_and_nonsense_are_answered_not_raised():
    assert kernel.connection_inode(("127.0.0.1", 1), ("127.0.0.1", 2)) == 0
    assert kernel.connection_inode(("not an address", 1), ("127.0.0.1", 2)) is None
    assert kernel.connection_inode(("127.0.0.1", "x"), ("127.0.0.1", 2)) is None
    assert kernel.open_socket_inodes([2 ** 22 + 12345]) == set()  # no such process
    assert kernel.endpoint(["127.0.0.1", 80]) == ("127.0.0.1", 80)
    for bad in (None, "127.0.0.1:80", ["127.0.0.1"], ["127.0.0.1", True], [1, 2]):
        assert kernel.endpoint(bad) is None


def test_elsewhere_every_answer_is_cannot_tell(monkeypatch):
    monkeypatch.setattr(kernel, "IS_LINUX", False)
    assert kernel.connection_inode(("127.0.0.1", 1), ("127.0.0.1", 2)) is None
    assert kernel.open_socket_inodes([os.getpid()]) is None


def test_sock_diag_answers_as_the_table_does(listener):
    diag = kernel.diag_socket()
    assert diag is not None
    with diag, socket.create_connection(listener.getsockname()) as client:
        server_end, client_end = listener.getsockname(), client.getsockname()
        # In the queue: the kernel's exact look-up falls back to the listener, which is not it.
        assert kernel.connection_inode(server_end, client_end, diag=diag) == 0
        conn, _ = listener.accept()
        with conn:
            assert kernel.connection_inode(server_end, client_end, diag=diag) == os.fstat(conn.fileno()).st_ino
            assert kernel.connection_inode(server_end, ("127.0.0.1", 1), diag=diag) == 0
        assert kernel.connection_inode(server_end, client_end, diag=diag) == 0  # closed


def test_a_broken_diag_socket_falls_back_on_the_table(listener):
    diag = kernel.diag_socket()
    diag.close()
    with socket.create_connection(listener.getsockname()) as client:
        conn, _ = listener.accept()
        with conn:
            assert kernel.connection_inode(listener.getsockname(), client.getsockname(), diag=diag) == \
                os.fstat(conn.fileno()).st_ino


def test_the_listener_of_a_port_is_found_with_or_without_sock_diag(listener):
    inode = os.fstat(listener.fileno()).st_ino
    host, port = listener.getsockname()
    diag = kernel.diag_socket()
    with diag:
        assert kernel.listener_inodes(host, port, diag) == {inode}
        assert kernel.listener_inodes(host, port) == {inode}
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))  # bound, not listening
            assert kernel.listener_inodes("127.0.0.1", unused.getsockname()[1], diag) == set()
            assert kernel.listener_inodes("127.0.0.1", unused.getsockname()[1]) == set()
    assert inode in kernel.open_socket_inodes([os.getpid()])
