"""The job's own process: hand a rule's verb to the workflow's job server (:mod:`repro.jobserver`) and wait for it.

A ci workflow starts some 500 of these processes, one per job, and each only connects, hands over its descriptors,
directory, environment and arguments, and waits. The rules start them as ``python -S -m repro <verb>``: without
``site`` Python skips the environment's ``.pth`` files (an editable install's import hook alone loads ``pathlib`` and
``importlib.util``: 14 ms of a bare start's 22 ms), and this module imports the standard library's sockets, JSON
encoder and signals at their C level only (``socket.py``, ``json``, ``signal.py`` and ``threading`` bring ``enum`` and
``re``: 9 ms more). The package comes from ``$PYTHONPATH`` (the workflow sets it to its base folder). A job the server
does not take (no server, another environment, a verb it does not serve) replaces its process with ``python -m repro``
as it was started without ``-S`` (:func:`run_here`), which runs the verb with the environment's packages.

Nothing here may import the rest of the package or a library outside the standard library.
"""

from __future__ import annotations

import _signal as signal  # signal.py, socket.py, json and threading import enum and re: a third of a job's start
import _socket as socket
import _thread
import array
import os
import sys
import time
from _json import encode_basestring_ascii

ENV = "REPRO_JOB_SERVER"
"""Environment variable holding the server's socket path (set by the workflow for its jobs)."""
ENV_LIGHT = "REPRO_JOB_SERVER_LIGHT"
"""Environment variable holding the light server's socket path (:data:`LIGHT_VERBS`; set with :data:`ENV`)."""
SERVER_PID = "REPRO_JOB_SERVER_PID"
"""Environment variable holding the server's pid: while that process runs and its socket does not exist yet (it is
still importing :data:`repro.jobwarm.PRELOAD`), a job waits for it, up to :data:`STARTUP_WAIT` seconds."""
WORKFLOW_PID = "REPRO_WORKFLOW_PID"
"""Environment variable holding the pid of the Snakemake process whose jobs run on this machine (rules/common.smk)."""
STARTUP_WAIT = 120.0
"""Seconds a job waits for a server that is starting. Waiting costs nothing: a job that ran itself instead would spend
the same seconds importing the same libraries, on the same cores, beside the server."""
SERVED = frozenset(
    {
        "run-arm",
        "compute-metrics",
        "arm-scores",
        "check-property",
        "decide",
        "family-pvalues",
        "holm-family",
        "finalize",
        "summarize",
        "track",
        "track-receipt",
    }
)
"""Verbs handed to the server: the rule verbs, each dominated by import time in a process of its own."""
LIGHT_VERBS = SERVED - {"run-arm", "check-property"}
"""Verbs handed to the light server where there is one: those that train nothing and never import torch,
transformers or open_clip (:data:`repro.jobwarm.HEAVY`)."""
HEADER_SIZE = 8
"""A request's JSON body follows its length: 8 bytes, big-endian (``struct`` format ``!Q``)."""


def environment_prefix() -> str:
    """The prefix of the environment this interpreter runs in: ``sys.prefix``, or under ``-S``, where Python leaves
    a virtual environment's detection to ``site``, the folder above the executable's when it (or the executable's
    own folder) holds ``pyvenv.cfg``, as ``site.venv`` decides."""
    if not sys.flags.no_site:
        return sys.prefix
    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    venv = os.path.dirname(exe_dir)
    if any(os.path.isfile(os.path.join(folder, "pyvenv.cfg")) for folder in (exe_dir, venv)):
        return venv
    return sys.prefix


def identity() -> dict[str, str]:
    """What client and server must share for a fork to run what the job's own process would."""
    return {
        # The environment, not the executable's name: jobs call `python`, Snakemake's own shebang says `python3`.
        "prefix": environment_prefix(),
        "version": sys.version,
        "package": os.path.dirname(os.path.realpath(__file__)),
    }


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed and not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return True  # no /proc here: trust the signal
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def end_with_workflow() -> None:
    """End this rule verb's process with its job: when the shell Snakemake started for it dies (even by ``kill -9``;
    Linux ``prctl(PR_SET_PDEATHSIG)``), or when the Snakemake process itself is gone (:data:`WORKFLOW_PID`, checked
    every second), it gets SIGTERM. A run then stops before it writes ``run.json`` (written last); in the job server
    the client forwards the signal to its fork. Without this an orphaned run finishes after its workflow was killed
    and leaves the record of a job Snakemake never saw finish, while a rerun may be writing the same folder."""
    if sys.platform.startswith("linux"):
        import ctypes

        parent = os.getppid()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGTERM, 0, 0, 0) == 0 and os.getppid() != parent:  # 1: PR_SET_PDEATHSIG
            os.kill(os.getpid(), signal.SIGTERM)  # the parent died while this was being set up
    workflow = os.environ.get(WORKFLOW_PID, "")
    if workflow.isdigit():

        def watch():
            while alive(int(workflow)):
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        _thread.start_new_thread(watch, ())  # ends with the process, like a daemon thread


def serve_this_process() -> int | None:
    """For a rule's own process (``python -m repro <verb> …`` with ``sys.argv`` as the shell gave it): tie it to
    its job (:func:`end_with_workflow`) and run it on the workflow's server. Returns the job's exit status, or None
    when the verb is not served or there is no server to use. ``python -m repro`` calls this before it imports the
    command line (its parser and verb modules)."""
    if not (sys.argv[1:2] and sys.argv[1] in SERVED):
        return None
    end_with_workflow()
    return run_on_server(sys.argv[1:])


def run_on_server(argv: list[str]) -> int | None:
    """Run ``repro <argv>`` in a fork of the workflow's job server. Returns its exit status, or None when there
    is no server to use (the caller then runs the verb itself)."""
    path = os.environ.get(ENV)
    if not path or not argv or argv[0] not in SERVED:
        return None
    if argv[0] in LIGHT_VERBS:
        path = os.environ.get(ENV_LIGHT) or path
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    reply = _Lines(conn)
    try:
        try:
            connect(conn, path)
            sys.stdout.flush()
            sys.stderr.flush()
            fds = array.array("i", [sys.stdout.fileno(), sys.stderr.fileno()])  # as socket.send_fds sends them
            conn.sendmsg([b"F"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "identity": identity()}
            body = json_text(request).encode()
            conn.sendall(len(body).to_bytes(HEADER_SIZE, "big") + body)
            first = reply.readline().split()
        except OSError:
            return None
        if first[:1] != ["PID"]:  # refused: another environment or another copy of the package
            return None
        pid = int(first[1])

        def forward(signum, _frame):
            try:  # noqa: SIM105 (contextlib: 2 ms more of each job's start)
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        last = reply.readline().split()  # from here on the job is the fork's: no fallback
    finally:
        conn.close()
    if last[:1] == ["EXIT"]:
        return int(last[1])
    print(f"repro job server: the job's fork (pid {pid}) ended without an exit status (killed?)", file=sys.stderr)
    return 1


def json_text(value: str | list | dict) -> str:
    """JSON of a request (strings, lists and objects of them), as ``json.dumps`` writes it with its C encoder."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if isinstance(value, list):
        return "[" + ", ".join(json_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{encode_basestring_ascii(k)}: {json_text(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"a job request holds strings, lists and objects, not {type(value).__name__}")


class _Lines:
    """The server's reply, a line at a time (``socket.makefile`` without ``io`` and ``socket.py``)."""

    def __init__(self, conn) -> None:
        self.conn, self.buffer = conn, b""

    def readline(self) -> str:
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(4096)
            if not chunk:
                line, self.buffer = self.buffer, b""
                return line.decode()
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode() + "\n"


def connect(conn, path: str) -> None:
    """Connect to the server's socket, waiting while the server (:data:`SERVER_PID`) runs and does not listen yet.
    Raises OSError when there is no server to wait for, when it ended, or after :data:`STARTUP_WAIT` seconds."""
    pid = os.environ.get(SERVER_PID, "")
    deadline = time.monotonic() + STARTUP_WAIT
    while True:
        try:
            conn.connect(path)
            return
        except (FileNotFoundError, ConnectionRefusedError):
            if not pid.isdigit() or not alive(int(pid)) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run_here() -> None:
    """In a process started with ``-S`` whose job no server took: become ``python -m repro`` with the environment's
    ``site`` (its packages) and the same arguments. Returns where ``site`` was loaded. That process asks the server
    again: where ``site`` finds another copy of the package than ``$PYTHONPATH`` did, it is the server's."""
    if sys.flags.no_site:
        os.execv(sys.executable, [sys.executable, "-m", "repro", *sys.argv[1:]])
