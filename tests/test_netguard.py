"""The suite's network guard (tests/netguard): no test, and no process a test starts, reaches the network."""

import socket
import subprocess
import sys

import pytest

from .conftest import _netguard

TEST_NET = ("192.0.2.1", 9)  # RFC 5737 documentation address: never routed


def test_a_connection_off_the_machine_fails_the_test():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(_netguard.NetworkUseInTests):
        sock.connect(TEST_NET)
    with pytest.raises(_netguard.NetworkUseInTests, match=r"name lookup of 'arxiv\.org'"):
        socket.getaddrinfo("arxiv.org", 443)


def test_loopback_and_unix_sockets_stay_allowed(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)


def test_processes_started_by_tests_are_guarded_too():
    code = "import socket; socket.create_connection(('192.0.2.1', 9), timeout=1)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "NetworkUseInTests: network use in tests:" in proc.stderr and "'192.0.2.1'" in proc.stderr
