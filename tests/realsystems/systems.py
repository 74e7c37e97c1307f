"""Real systems for the scale-out and review tests: a throw-away PostgreSQL cluster, an `mlflow server` on it, headless
Chromium. Each is the real program from Debian's packages or PyPI, started on loopback and a free port, its state in a
temporary folder; none is stubbed. Where a program is missing the test is skipped with what to install, unless
``$REPRO_REAL_SYSTEMS=required`` (set by .ci/run, which installs them), where it fails."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRED = os.environ.get("REPRO_REAL_SYSTEMS") == "required"
INSTALL = "apt-get install -y postgresql chromium chromium-driver slurm-wlm munge (scripts/install-real-systems.sh)"


def need(what: str, present: bool) -> None:
    """Skip (fail where .ci/run requires the real systems) when ``what`` is not installed."""
    if present:
        return
    message = f"{what} is not installed: {INSTALL}"
    if REQUIRED:
        pytest.fail(message + " ($REPRO_REAL_SYSTEMS=required)")
    pytest.skip(message)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` different loopback ports free now (each socket held until all are picked). Pick them just before they
    are bound: until then another process may take one."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


@contextlib.contextmanager
def postgres_cluster() -> Iterator[dict]:
    """A PostgreSQL cluster of its own (initdb in a temporary folder, trust authentication for user ``repro`` on
    127.0.0.1 and a free port), stopped and removed on exit. Yields ``{"port", "bin", "start", "stop"}``. As root the
    server runs as the ``postgres`` user, which PostgreSQL requires."""
    bindir = postgres_bin()
    need("PostgreSQL (Debian package postgresql)", bindir is not None)
    root = Path(tempfile.mkdtemp(prefix="repro-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"

    def pg_ctl(*args: str) -> None:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), *args], check=True, capture_output=True)

    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "repro", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    port = free_port()  # after initdb's seconds, just before the server binds it
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    cluster = {
        "port": port,
        "bin": bindir,
        "start": lambda: pg_ctl("-l", str(root / "server.log"), "-w", "-o", options, "start"),
        "stop": lambda: pg_ctl("-w", "-m", "fast", "stop"),
    }
    cluster["start"]()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def create_database(port: int, name: str) -> str:
    """A new database on the cluster at ``port``; returns its SQLAlchemy URI."""
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=port, user="repro", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return f"postgresql://repro@127.0.0.1:{port}/{name}"


def query(uri: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` run directly on the database at ``uri`` (not through MLflow)."""
    import psycopg2

    connection = psycopg2.connect(uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        connection.close()


def wait_http(url: str, process: subprocess.Popen | None = None, timeout: float = 180) -> None:
    """Until ``url`` answers 200 (or ``process`` ends, or ``timeout`` passes: an AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{process.args[:4]} ended ({process.returncode}) before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout:g} s")


SHUTDOWN_GRACE_S = 10  # uvicorn's own bound on a graceful shutdown: it waits for open requests without one
STOP_WAIT_S = 30  # then this long for the server to exit before its processes are killed


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, log: Path, workers: int = 2) -> Iterator[str]:
    """``mlflow server`` on ``backend_uri`` (its database schema made by the server itself) serving artifacts from
    the local folder ``artifacts``, on a free loopback port; yields its URI. Its output goes to ``log``. On exit it
    is stopped as a user stops it (SIGTERM), see :func:`stop_server`."""
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--uvicorn-opts", f"--timeout-graceful-shutdown {SHUTDOWN_GRACE_S}"]
    cmd += ["--backend-store-uri", backend_uri, "--artifacts-destination", str(artifacts)]
    with open(log, "w") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{uri}/health", server)
        yield uri
    finally:
        stop_server(server, log)


def stop_server(server: subprocess.Popen, log: Path, wait_s: float = STOP_WAIT_S) -> None:
    """SIGTERM to the server's process group (mlflow's CLI, uvicorn's supervisor, its workers), then wait.

    In this uvicorn a second SIGTERM does not force an exit, and without ``--timeout-graceful-shutdown`` a worker
    waits for its open requests without a bound: CI once waited out 30 s here after the browser test (the log is
    gone). A server still running after ``wait_s`` is killed, and the test is warned with its processes and the
    log's tail, so a hang is reported, not waited for: the tests' assertions were made while it served."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=wait_s)
        return
    except subprocess.TimeoutExpired:
        pass
    processes = subprocess.run(
        ["ps", "-ww", "-o", "pid,ppid,stat,etime,args", "-s", str(server.pid)], capture_output=True, text=True
    ).stdout
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:]) if log.exists() else "(no log)"
    warnings.warn(
        f"mlflow server {server.pid} did not stop within {wait_s:g} s of SIGTERM and was killed.\n"
        f"Its processes:\n{processes}\nThe end of {log}:\n{tail}",
        stacklevel=2,
    )


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1600,1000",
    # no connections of its own (this machine's network is closed; tests may not use it)
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)


@contextlib.contextmanager
def chromium() -> Iterator:
    """Headless Chromium (Debian's chromium and chromium-driver) under Selenium, with a fresh profile."""
    need("Chromium (Debian packages chromium, chromium-driver)", CHROMIUM.exists() and CHROMEDRIVER.exists())
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="repro-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)  # no Selenium Manager download
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
