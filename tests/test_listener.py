"""lmprep/listener.py: which process listens on a port (the record of a hand-off start names it)."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from lmprep import listener

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux
def test_the_process_that_listens_is_found_and_one_that_only_binds_is_not():
    with socket.socket() as server, socket.socket(socket.AF_INET6) as bound:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert listener.listening_pids(port) == {os.getpid()}
        assert listener.listener_of(port) == os.getpid()
        assert listener.listens(os.getpid(), port) is True
        assert listener.listens(1, port) is False  # not ours to read, and not the listener anyway
        bound.bind(("::1", 0))  # bound, never listening: holds the port, serves nothing
        other = bound.getsockname()[1]
        assert listener.listening_pids(other) == set() and listener.listener_of(other) is None
        assert listener.listens(os.getpid(), other) is False


@linux
def test_ipv6_listeners_are_read_from_tcp6():
    with socket.socket(socket.AF_INET6) as server:
        server.bind(("::1", 0))
        server.listen()
        assert listener.listener_of(server.getsockname()[1]) == os.getpid()


def test_lsof_where_there_is_no_proc(tmp_path, monkeypatch):
    fake = tmp_path / "lsof"
    fake.write_text("#!/bin/sh\n[ \"$1 $2 $3 $4\" = \"-nP -iTCP:4321 -sTCP:LISTEN -Fp\" ] || exit 2\n"
                    "printf 'p4242\\nf7\\np99\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(listener.sys, "platform", "darwin")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert listener.listening_pids(4321) == {4242, 99}
    assert listener.listener_of(4321) is None  # two: which one serves is not known
    assert listener.listens(99, 4321) is True and listener.listens(5, 4321) is False
    assert listener.listening_pids(1) is None  # lsof failed (exit 2): nothing is known


def test_nothing_is_known_without_proc_or_lsof(tmp_path, monkeypatch):
    monkeypatch.setattr(listener.sys, "platform", "darwin")
    monkeypatch.setenv("PATH", str(tmp_path))  # no lsof
    assert listener.listening_pids(4321) is None and listener.listener_of(4321) is None
    assert listener.listens(1, 4321) is None


@linux
def test_the_walk_is_bounded(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setattr(listener, "MAX_PROCESSES", 0)
        assert listener.listening_pids(port) == set()  # gave up before the first process
