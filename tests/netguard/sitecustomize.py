"""Network guard for the test suite: any socket connection to a non-loopback address fails the test.

``tests/conftest.py`` installs it in the pytest process and puts this folder on ``PYTHONPATH``, so that every Python
subprocess a test starts (snakemake, its jobs, ``repro`` commands, the job server, ``mlflow``) imports it as
``sitecustomize`` at start-up and is guarded too. Unix sockets (the job server) and loopback (a local MLflow or
PostgreSQL server) are allowed; anything else raises :class:`NetworkUseInTests` naming the address.
"""

from __future__ import annotations

import ipaddress
import socket

ALLOWED_HOSTS = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NetworkUseInTests(ConnectionError):
    """A test (or a process it started) tried to reach the network."""


def _loopback(host) -> bool:
    if not isinstance(host, str):
        return False
    if host in ALLOWED_HOSTS or host == "":
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
        return address.is_loopback or address.is_unspecified
    except ValueError:
        return False  # a host name other than localhost: resolving it is network use


def _check(sock_family, address) -> None:
    if sock_family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _loopback(host):
        raise NetworkUseInTests(f"network use in tests: connection to {address!r} blocked (tests/netguard)")


def install() -> None:
    """Guard ``socket.socket.connect``/``connect_ex`` and name resolution of non-local hosts (idempotent)."""
    if getattr(socket.socket, "_repro_guarded", False):
        return
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guarded_connect(self, address):
        _check(self.family, address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        _check(self.family, address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _loopback(name):
            raise NetworkUseInTests(f"network use in tests: name lookup of {name!r} blocked (tests/netguard)")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo
    socket.socket._repro_guarded = True


install()
