"""A warm job server: the heavy libraries are imported once per workflow, and each rule job runs in a fork.

Every rule calls ``python -S -m repro <verb>``, and a ci-scale workflow is about 500 such jobs. A fresh process spends
2.5 s importing torch and another 4.8 s importing transformers' model code before a 10-20 s tiny run starts, and
1.5-3.5 s on pandas, pandera, scipy and matplotlib before scoring or deciding in well under a second (measured on
2 cores: the ci workflow takes 20 minutes as separate processes and 13 in forks, with identical predictions,
weights and verdicts). When the workflow executes jobs on this machine it starts one server (rules/common.smk,
``onstart``) that imports :data:`repro.jobwarm.PRELOAD` and listens on a Unix socket in a private temporary folder.
A job's process (:mod:`repro.jobclient`), for the verbs in :data:`repro.jobclient.SERVED`, connects and hands over
its stdout/stderr file descriptors, working directory, environment and arguments; the server reads them, loads what
the verb needs beyond its warm-up (:data:`repro.jobwarm.ON_DEMAND`) and forks; the fork takes them over and runs
exactly what the job's own process would (:func:`repro.cli.dispatch`), then reports its exit status. The job process
waits, forwards SIGINT/SIGTERM/SIGHUP to the fork and exits with its status; a fork whose job process disappears
terminates itself.

The project's own modules are imported in the server too (those the rule verbs use: :mod:`repro.jobwarm`), and the
caches of their parsed source (code keys, integrity checks) filled, after the server has recorded a digest of the
package's files. Each fork compares the files with that digest before it runs its job: if any file was edited, added
or removed since, the fork drops every ``repro`` module and imports them again, so that a job always runs the
project's files as they are when it starts (each fork re-imported them all until this saved 0.1-0.4 s a job).

Without a server (cluster executors, ``--use-conda``, ``--no-hooks``, ``job_server: false``), when the server ended or
does not listen within :data:`repro.jobclient.STARTUP_WAIT` seconds, or when it runs in another environment or another
copy of the package, the job process does the work itself, as it always can.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from repro.jobclient import ENV, ENV_LIGHT, HEADER_SIZE, SERVER_PID, alive, identity

PACKAGE = Path(__file__).resolve().parent
"""The project's package: its files' digest decides whether a fork may keep the modules the server imported."""


def _package_digest() -> str:
    """sha256 over the package's files (names and contents; not ``__pycache__``): 130 files, about 15 ms."""
    import hashlib

    digest = hashlib.sha256()
    for folder, subfolders, files in os.walk(PACKAGE):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                content = handle.read()
            digest.update(f"{os.path.relpath(path, PACKAGE)}\0{len(content)}\0".encode())
            digest.update(content)
    return digest.hexdigest()


def _project_modules() -> list[str]:
    return [name for name in sys.modules if name == "repro" or name.startswith("repro.")]


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        data += chunk
    return data


# ------------------------------------------------------------------ server


def serve(socket_path: str, parent: int) -> int:
    """Preload, listen on ``socket_path`` and fork a worker per connection until SIGTERM or until ``parent`` (the
    Snakemake process) is gone. Halfway through the warm-up, once the libraries of the scoring and deciding verbs
    are loaded and before torch and transformers are, the server forks the light server (:data:`LIGHT_SUFFIX`), which
    serves those verbs from then on: they start some 4 s earlier, and a fork of its smaller heap costs 8 ms of page
    tables where one of the whole server costs 36 (:data:`repro.jobclient.LIGHT_VERBS`)."""
    digest = _package_digest()  # before the rest of the project is read: an edit from here on is seen by the forks
    from repro.jobwarm import warm_up

    warmed = warm_up(light=True)
    server = os.getpid()
    sys.stdout.flush()
    light = os.fork()
    if light == 0:
        code = 1
        try:
            code = _listen(socket_path + LIGHT_SUFFIX, "light", warmed, server, parent, digest)
        finally:
            os._exit(code)
    try:
        return _listen(socket_path, "full", warm_up(), parent, parent, digest)
    finally:
        _end(light)


LIGHT_SUFFIX = ".light"
"""The light server's socket: the server's, with this suffix."""


def _end(pid: int) -> None:
    """Stop the light server ``pid`` (SIGTERM: it ends its loop at once) and wait up to 10 s for it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        time.sleep(0.05)


def _listen(socket_path: str, kind: str, warmed: tuple[int, int], parent: int, workflow: int, digest: str) -> int:
    """Listen on ``socket_path`` and fork a worker per connection until SIGTERM or until this process's parent is no
    longer ``parent``; the forks watch ``workflow`` (the Snakemake process)."""
    from repro.jobwarm import LIGHT_PRELOAD, PRELOAD

    project_modules, frozen = warmed
    own = identity()
    stop = False

    def request_stop(_signum, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped by the kernel; their status goes to the client
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".tmp")
    listener.listen(64)
    preloaded = len(LIGHT_PRELOAD if kind == "light" else PRELOAD)
    print(  # before the socket appears: whoever sees the socket finds this line in the log
        f"repro job server {os.getpid()} ({kind}): preloaded {preloaded} modules and {project_modules} of the"
        f" project's ({frozen} objects frozen), listening on {socket_path}",
        flush=True,
    )
    os.rename(socket_path + ".tmp", socket_path)  # clients see a listening socket or none
    try:
        while not stop and os.getppid() == parent:
            try:
                ready, _, _ = select.select([listener], [], [], 1.0)
            except InterruptedError:
                continue
            if not ready:
                continue
            conn, _ = listener.accept()
            try:
                fds, request = _receive(conn)
            except (OSError, ValueError) as exc:
                print(f"repro job server: dropped a client whose request could not be read: {exc}", flush=True)
                conn.close()
                continue
            load_on_demand(request["argv"])
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                _work(conn, fds, request, own, workflow, digest)  # never returns
            conn.close()
            for fd in fds:
                os.close(fd)
    finally:
        listener.close()
        Path(socket_path).unlink(missing_ok=True)
    return 0


def _receive(conn: socket.socket) -> tuple[list[int], dict]:
    """Read a client's request in the server: its stdout/stderr descriptors and its arguments, directory, environment
    and identity (:func:`run_on_server` sends them as soon as it connects; one that does not within 10 s is
    dropped). The server reads the verb before it forks, to load what that verb needs (:func:`load_on_demand`)."""
    conn.settimeout(10.0)
    try:
        _, fds, _, _ = socket.recv_fds(conn, 1, 2)
        try:
            if len(fds) != 2:
                raise ValueError(f"{len(fds)} file descriptors, not 2 (stdout, stderr)")
            size = int.from_bytes(_read_exact(conn, HEADER_SIZE), "big")
            request = json.loads(_read_exact(conn, size))
            if not isinstance(request, dict) or not isinstance(request.get("argv"), list):
                raise ValueError("the request is not an object with an argument list")
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
    finally:
        conn.settimeout(None)
    return fds, request


_CALLED: set[str] = set()
"""The ``module:function`` entries of :data:`repro.jobwarm.ON_DEMAND` this server has called."""


def load_on_demand(argv: list[str]) -> None:
    """Import, in the server, the libraries the job's verb (``argv[0]``) needs that the warm-up leaves out
    (:data:`repro.jobwarm.ON_DEMAND`: mlflow for ``track``), so that its first job pays for them and the later ones
    do not."""
    from repro.jobwarm import ON_DEMAND, freeze_heap

    names = [
        name for name in ON_DEMAND.get(argv[0] if argv else "", ()) if name not in sys.modules and name not in _CALLED
    ]
    for name in names:
        module, _, function = name.partition(":")
        with contextlib.suppress(Exception):  # what fails here fails again in the fork, which reports it
            loaded = importlib.import_module(module)
            if function:
                _CALLED.add(name)
                getattr(loaded, function)()
    if names:
        frozen = freeze_heap()
        print(f"repro job server: loaded for {argv[0]}: {', '.join(names)} ({frozen} objects frozen)", flush=True)


def _work(conn: socket.socket, fds: list[int], request: dict, identity: dict[str, str], workflow: int, digest: str):
    """In the fork: take over the job's descriptors, directory and environment, run its verb, report, exit. The
    project's modules the server imported are dropped first when the package's files no longer match ``digest``
    (:func:`_package_digest`), so the job imports them as they are now.

    The job ends early (SIGTERM to itself) when its job process or the Snakemake process ``workflow`` is gone: a run
    that finished after its workflow was killed would leave a record of a job Snakemake never saw finish."""
    import traceback

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 1
    try:
        if request["identity"] != identity:
            print(f"fork {os.getpid()}: refused a client of {request['identity']}", flush=True)
            conn.sendall(b"REFUSED\n")
            os._exit(0)
        print(f"fork {os.getpid()}: repro {' '.join(request['argv'][:1])} in {request['cwd']}", flush=True)
        if _package_digest() != digest:
            print(f"fork {os.getpid()}: the project's files changed since the server started", flush=True)
            for name in _project_modules():
                del sys.modules[name]
        server_log = os.dup(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (null, *fds):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["repro", *request["argv"]]
        conn.sendall(f"PID {os.getpid()}\n".encode())
        finished = threading.Event()

        def watch_client():
            # The job's process only waits; if it is gone (killed by Snakemake or by hand), so is its job; and so
            # is every job of a workflow whose Snakemake process is gone (kill -9 leaves its job shells orphaned).
            gone = False
            while not gone and not finished.is_set():
                try:
                    ready, _, _ = select.select([conn], [], [], 1.0)
                    gone = bool(ready) and conn.recv(1) == b""
                except (OSError, ValueError):
                    gone = True
                gone = gone or not alive(workflow)
            if gone and not finished.is_set():
                os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch_client, daemon=True).start()
        from repro.cli import dispatch

        try:
            code = int(dispatch(request["argv"]) or 0)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        finished.set()
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(server_log, f"fork {os.getpid()}: exit {code}\n".encode())  # logged before the client hears it
        conn.sendall(f"EXIT {code}\n".encode())
    except BaseException:
        traceback.print_exc()
    os._exit(code)


# ------------------------------------------------------------------ lifecycle (called by the workflow)


class JobServer:
    """The workflow's server process: :meth:`start` in ``onstart``, :meth:`stop` in ``onsuccess``/``onerror``."""

    def __init__(self, log: Path, pythonpath: str) -> None:
        self.log, self.pythonpath = Path(log), pythonpath
        self.process = None  # the server's subprocess.Popen once started
        self.folder: str | None = None

    def start(self) -> None:
        """Start the server and point this process's future jobs at it. Returns at once: jobs that start before
        the server listens wait for it while it runs (:func:`repro.jobclient.connect`)."""
        import subprocess
        import tempfile

        self.folder = tempfile.mkdtemp(prefix="repro-jobs-")  # private (0700): only this user reaches the socket
        path = os.path.join(self.folder, "socket")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        pythonpath = os.pathsep.join(p for p in (self.pythonpath, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": pythonpath}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "repro", "serve-jobs", "--socket", path, "--parent", str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C in the terminal reaches Snakemake and the jobs, not the server
            )
        os.environ[ENV] = path
        os.environ[ENV_LIGHT] = path + LIGHT_SUFFIX
        os.environ[SERVER_PID] = str(self.process.pid)

    def stop(self) -> None:
        import subprocess

        for name in (ENV, ENV_LIGHT, SERVER_PID):
            os.environ.pop(name, None)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.folder is not None:  # the sockets of a server that was killed, not stopped
            for name in ("socket", "socket.tmp", f"socket{LIGHT_SUFFIX}", f"socket{LIGHT_SUFFIX}.tmp"):
                Path(self.folder, name).unlink(missing_ok=True)
            os.rmdir(self.folder)
        self.process = self.folder = None
