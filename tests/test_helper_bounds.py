"""The test helpers' bounds: a server that does not stop on SIGTERM is killed and reported, not waited for (CI once
lost a run to an `mlflow server` that outlived its test), and a test's workflow that runs too long is reported."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from .realsystems.systems import stop_server

IGNORES_SIGTERM = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    'signal.signal(signal.SIGTERM, signal.SIG_IGN); print("worker up", flush=True); time.sleep(60)\'])\n'
    "time.sleep(60)\n"
)


def test_a_server_that_ignores_sigterm_is_killed_with_its_group_and_reported(tmp_path):
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=out, start_new_session=True)
    deadline = time.monotonic() + 60
    while "worker up" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "worker up" in log.read_text(), "the stand-in server's worker did not start within 60 s"
    with pytest.warns(UserWarning, match=r"did not stop within 0.5 s of SIGTERM and was killed") as caught:
        stop_server(server, log, wait_s=0.5)
    message = str(caught[0].message)
    assert "worker up" in message  # the log's tail
    listed = message.split("Its processes:\n", 1)[1].split("\nThe end of", 1)[0].splitlines()
    assert len([line for line in listed[1:] if f" {server.pid} " in f" {line} "]) == 2  # it and its child, listed
    assert server.returncode == -9
    deadline = time.monotonic() + 30  # SIGKILL is sent; the worker is gone (or unreaped) once the kernel acts on it
    while not _all_dead(server.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _all_dead(server.pid), "the server's worker outlived the kill"


def _all_dead(session: int) -> bool:
    """Whether every process of ``session`` is gone or a zombie (its parent killed, it waits for PID 1 to reap it)."""
    states = subprocess.run(["ps", "-o", "stat=", "-s", str(session)], capture_output=True, text=True).stdout
    return all(state.startswith("Z") for state in states.split())


def test_a_server_that_stops_on_sigterm_is_not_reported(tmp_path, recwarn):
    log = tmp_path / "server.log"
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    stop_server(server, log, wait_s=10)
    assert server.returncode == -15 and not recwarn.list


def test_a_test_workflow_past_its_bound_is_reported_as_hung(tmp_path, monkeypatch):
    from . import conftest

    monkeypatch.setattr(conftest, "WORKFLOW_S", 1)  # Snakemake takes longer than that to start
    with pytest.raises(AssertionError, match=r"snakemake ran past 1 s \(hung\?\)"):
        conftest.snakemake(tmp_path)
