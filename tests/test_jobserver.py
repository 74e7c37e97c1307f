"""The job server (repro/jobserver.py): a served verb runs in a fork with the job's directory, environment,
output and exit status, gives the same results as its own process, and never outlives a killed job."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from repro.jobclient import ENV, ENV_LIGHT, HEADER_SIZE, LIGHT_VERBS, SERVER_PID, connect, identity, json_text
from repro.jobserver import LIGHT_SUFFIX, JobServer
from repro.plan import make_run

from .conftest import ROOT


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running server; yields (socket path, its log). The path stays out of this process's environment."""
    log = tmp_path_factory.mktemp("jobserver") / "job_server.log"
    jobs, path = _start(log, ROOT)
    yield path, log
    jobs.stop()
    assert not Path(path).exists() and jobs.process is None


def _start(log: Path, package_root: Path) -> tuple[JobServer, str]:
    """Start a server for the package under ``package_root`` and wait until it listens; returns it and its socket
    path, which stays out of this process's environment."""
    jobs = JobServer(log, str(package_root))
    jobs.start()
    path = os.environ.pop(ENV)
    os.environ.pop(SERVER_PID)
    assert os.environ.pop(ENV_LIGHT) == path + LIGHT_SUFFIX
    deadline = time.time() + 120
    while not Path(path).exists() and time.time() < deadline and jobs.process.poll() is None:
        time.sleep(0.2)
    assert Path(path).exists(), log.read_text()
    return jobs, path


def _repro(args, cwd, socket_path=None, **kwargs):
    """A job's own process as a rule starts it (``python -S -m repro``, the package on ``$PYTHONPATH``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if socket_path:
        env[ENV] = socket_path
    return subprocess.Popen([sys.executable, "-S", "-m", "repro", *args], cwd=cwd, env=env, **kwargs)


def _forks(log: Path) -> list[tuple[int, str]]:
    return [(int(pid), rest) for pid, rest in re.findall(r"^fork (\d+): (.*)$", log.read_text(), re.MULTILINE)]


def test_a_served_job_runs_in_a_fork_like_its_own_process(server, tmp_path):
    path, log = server
    spec = make_run("planted", "ci", 3, {}).to_json()
    served, own = tmp_path / "served", tmp_path / "own"
    for folder, socket_path in ((served, path), (own, None)):
        folder.mkdir()
        proc = _repro(
            ["run-arm", "--spec", spec, "--out", "seed3/run.json"],
            folder,
            socket_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "completed in" in out + err  # the job's output reached the job's own descriptors
    assert any(rest == f"repro run-arm in {served}" for _, rest in _forks(log))  # run in a fork, in the job's cwd
    a = json.loads((served / "seed3/run.json").read_text())
    b = json.loads((own / "seed3/run.json").read_text())
    assert a["status"] == b["status"] == "completed"
    assert a["artifacts"] == b["artifacts"]  # bit-identical predictions, curve and weights


def test_exit_status_and_errors_come_back(server, tmp_path):
    path, log = server
    proc = _repro(["decide", "--scale", "ci"], tmp_path, path, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "usage:" in err and "--claim" in err
    assert "exit 2" in [rest for _, rest in _forks(log)]


def test_a_fork_runs_the_projects_files_as_they_are_when_the_job_starts(tmp_path, monkeypatch):
    """The server imports the project's modules once; a job that starts after a file was edited drops them and
    imports the edited files (here: decide's usage names the edited metavar)."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "repro", copy / "repro", ignore=shutil.ignore_patterns("__pycache__"))
    log = tmp_path / "job_server.log"
    monkeypatch.chdir(tmp_path)  # `python -m repro` would import the package in the current folder first
    jobs, path = _start(log, copy)
    try:
        assert re.search(r"preloaded \d+ modules and \d+ of the project's", log.read_text()), log.read_text()
        # the heap its forks inherit is out of the collector's reach (repro.jobwarm.freeze_heap)
        assert int(re.search(r"\((\d+) objects frozen\)", log.read_text()).group(1)) > 100_000

        def usage_error() -> str:
            env = {**os.environ, "PYTHONPATH": str(copy), ENV: path}
            proc = subprocess.run(
                [sys.executable, "-m", "repro", "decide", "--scale", "ci"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 2, proc.stderr
            return proc.stderr

        assert "--claim CLAIM" in usage_error()
        verdicts = copy / "repro" / "cli" / "verdicts.py"
        old = 'p.add_argument("--claim", required=True, help="the claim file")'
        assert old in verdicts.read_text()  # decide (and finalize) take the claim file
        edited = old.replace("required=True", 'required=True, metavar="EDITED"')
        verdicts.write_text(verdicts.read_text().replace(old, edited))
        assert "--claim EDITED" in usage_error()
        forks = [rest for _, rest in _forks(log)]
        assert forks.count(f"repro decide in {tmp_path}") == 2  # both served, not run by the job's own process
        assert forks.count("the project's files changed since the server started") == 1
    finally:
        jobs.stop()


def test_without_a_server_the_job_runs_in_its_own_process(tmp_path):
    proc = _repro(
        ["run-arm", "--spec", make_run("planted", "ci", 0, {}).to_json(), "--out", "run.json"],
        tmp_path,
        str(tmp_path / "no-such-socket"),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "completed"


def test_scoring_and_deciding_jobs_go_to_the_light_server_which_has_no_torch(server, tmp_path):
    """Halfway through its warm-up the server forks the light server, before it imports torch, transformers and
    open_clip; a job of a verb that trains nothing goes there when the workflow names it, any other to the server."""
    path, log = server
    assert "decide" in LIGHT_VERBS and "run-arm" not in LIGHT_VERBS and "check-property" not in LIGHT_VERBS
    servers = dict(re.findall(r"^repro job server (\d+) \((light|full)\)", log.read_text(), re.MULTILINE))
    assert sorted(servers.values()) == ["full", "light"], log.read_text()
    libraries = {kind: Path(f"/proc/{pid}/maps").read_text() for pid, kind in servers.items()}
    assert "libtorch" in libraries["full"] and "libtorch" not in libraries["light"]
    assert Path(path + LIGHT_SUFFIX).is_socket()
    before = len(_forks(log))
    env = {**os.environ, "PYTHONPATH": str(ROOT), ENV: str(tmp_path / "none"), ENV_LIGHT: path + LIGHT_SUFFIX}
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "repro", "decide", "--scale", "ci"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "usage:" in proc.stderr
    forks = _forks(log)[before:]
    assert [rest for _, rest in forks] == [f"repro decide in {tmp_path}", "exit 2"]  # served: by the light server


def test_a_client_without_site_is_the_same_environment_as_the_server(tmp_path):
    """Under ``-S`` Python leaves a virtual environment's prefix to ``site``: the client finds it as ``site`` would,
    or the server would refuse every rule's job and each would start again with ``site`` (correct, and slower)."""
    code = "import json; from repro.jobclient import identity; print(json.dumps(identity()))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    without, with_site = (
        json.loads(
            subprocess.run(
                [sys.executable, *flags, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
            ).stdout
        )
        for flags in (["-S"], [])
    )
    assert without == with_site == identity()


def test_a_refused_job_runs_in_its_own_process_with_site(tmp_path, monkeypatch):
    """A server of another copy of the package refuses the job; its ``-S`` process starts again as ``python -m
    repro`` with the environment's packages (which the verb imports: pandas, torch), asks once more (refused again
    here) and runs the job itself."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "repro", copy / "repro", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(tmp_path)  # `python -m repro` would import the package in the current folder first
    jobs, path = _start(tmp_path / "job_server.log", copy)
    try:
        proc = _repro(
            ["run-arm", "--spec", make_run("planted", "ci", 1, {}).to_json(), "--out", "run.json"],
            tmp_path,
            path,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
        assert json.loads((tmp_path / "run.json").read_text())["status"] == "completed"
        refusals = [rest.split(" of ")[0] for _, rest in _forks(tmp_path / "job_server.log")]
        assert refusals == ["refused a client"] * 2  # without site, then with it
    finally:
        jobs.stop()


def test_a_client_of_another_environment_is_refused(server):
    path, log = server
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        socket.send_fds(conn, [b"F"], [sys.stdout.fileno(), sys.stderr.fileno()])
        elsewhere = {**identity(), "prefix": "/another/venv"}
        body = json.dumps({"argv": ["status"], "cwd": "/", "env": {}, "identity": elsewhere}).encode()
        conn.sendall(len(body).to_bytes(HEADER_SIZE, "big") + body)
        assert conn.makefile().readline() == "REFUSED\n"
    assert any(rest.startswith("refused a client") for _, rest in _forks(log))


def test_a_malformed_request_is_dropped_and_the_server_serves_on(server, tmp_path):
    """The server reads each request before it forks (to load what its verb needs): a request that is not an object
    with an argument list, or that is not JSON, is dropped with a line in its log, and the next job is served."""
    path, log = server
    for body in (json.dumps(["status"]).encode(), b"{not json"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(path)
            socket.send_fds(conn, [b"F"], [sys.stdout.fileno(), sys.stderr.fileno()])
            conn.sendall(len(body).to_bytes(HEADER_SIZE, "big") + body)
            assert conn.makefile().readline() == ""  # closed without an answer
    assert log.read_text().count("dropped a client whose request could not be read") >= 2
    proc = _repro(["decide", "--scale", "ci"], tmp_path, path, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--claim" in err
    assert f"repro decide in {tmp_path}" in [rest for _, rest in _forks(log)]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_job_kills_its_fork_and_leaves_no_run_json(server, tmp_path, signum):
    path, log = server
    spec = make_run("planted", "ci", 0, {"steps": 2_000_000}).to_json()
    job_log = tmp_path / "log"
    with open(job_log, "w") as handle:
        proc = _repro(["run-arm", "--spec", spec, "--out", "run.json"], tmp_path, path, stdout=handle, stderr=handle)
        deadline = time.time() + 60
        while time.time() < deadline and "train:" not in job_log.read_text():  # killed mid-training
            time.sleep(0.2)
        assert "train:" in job_log.read_text()
        fork = next(pid for pid, rest in reversed(_forks(log)) if rest == f"repro run-arm in {tmp_path}")
        proc.send_signal(signum)
        proc.wait(timeout=30)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            os.kill(fork, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"fork {fork} outlived its job (signal {signum})")
    assert proc.returncode == (-signal.SIGKILL if signum == signal.SIGKILL else 1)
    assert not (tmp_path / "run.json").exists()
    assert not list(tmp_path.glob("*.tmp"))


def test_a_job_waits_for_a_server_that_is_starting_and_not_for_one_that_ended(tmp_path, monkeypatch):
    """A job that starts while the server still imports its libraries waits for its socket (the server's fork
    runs it); a job whose server ended does its work itself at once."""
    path = str(tmp_path / "socket")
    starting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    monkeypatch.setenv(SERVER_PID, str(starting.pid))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def listen_later():
        time.sleep(1.0)
        listener.bind(path)
        listener.listen(1)

    later = threading.Thread(target=listen_later)
    later.start()
    try:
        began = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            connect(conn, path)  # no socket yet: it waits
            assert time.monotonic() - began >= 0.9
        later.join()
        listener.close()
        os.unlink(path)
        starting.kill()
        starting.wait()
        began = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn, pytest.raises(FileNotFoundError):
            connect(conn, path)  # its server is gone: no wait
        assert time.monotonic() - began < 1.0
    finally:
        starting.kill()
        listener.close()


def test_every_rule_verb_is_served_and_no_rule_runs_python_in_snakemake():
    """A rule verb left out of SERVED pays 1.5-3.5 s of imports per job (finalize did: 63 jobs of the ci workflow),
    and a `run:` block is worse: Snakemake spawns a second Snakemake for it that parses the workflow again."""
    from repro.jobclient import SERVED

    text = "\n".join(p.read_text() for p in sorted((ROOT / "rules").glob("*.smk")))
    verbs = set(re.findall(r"python -S -m repro ([a-z-]+)", text))
    assert "track" in verbs and verbs <= SERVED, sorted(verbs - SERVED)
    assert not re.search(r"python -m repro", text)  # every job's own process is the light client
    assert not re.search(r"^\s+run:\s*$", text, re.MULTILINE)


def test_a_served_jobs_own_process_imports_the_client_only(server, tmp_path):
    """``python -S -m repro <served verb>`` hands the job to the server before it imports the command line (its
    parser and verb modules), the rest of the package or the environment's site: each of a workflow's ~500 job
    processes is a light client."""
    path, _ = server
    env = {**os.environ, "PYTHONPATH": str(ROOT), ENV: path}
    proc = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-m", "repro", "decide", "--scale", "ci"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "usage:" in proc.stderr  # the fork ran the verb and its error came back
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "repro.jobclient" in imported
    assert not {name for name in imported if name.startswith("repro.") and name != "repro.jobclient"}
    light = {"site", "argparse", "subprocess", "tempfile", "hashlib", "pathlib", "json", "re", "enum", "socket"}
    assert not light & imported, light & imported


def test_a_request_is_the_json_the_server_reads():
    """The client writes its request's JSON itself (json imports re and enum: a third of a job process's start):
    the same text as ``json.dumps``, read back unchanged, for any environment (quotes, newlines, non-ASCII, and the
    surrogate escapes of bytes that are not UTF-8 in a variable)."""
    request = {
        "argv": ["decide", "--claim", 'claims/a "b"\\c.yaml', ""],
        "cwd": "/tmp/wörk dir",
        "env": {"PATH": "/usr/bin", "X": "line\nbreak\ttab\x00\x7f", "Y": "\udcff\u20ac😀", "": "empty"},
        "identity": identity(),
    }
    assert json_text(request) == json.dumps(request)
    assert json.loads(json_text(request)) == request
    with pytest.raises(TypeError, match="not int"):
        json_text({"argv": [1]})


def test_the_server_builds_every_table_schema_before_it_forks():
    """pandera builds a model's schema on its first use and caches it per model and thread; the server builds them
    all (and registers pandera's backends) in the thread its forks run jobs in, so no job pays for it."""
    from pandera.api.dataframe.model import MODEL_CACHE

    from repro import jobwarm
    from repro.families.gdro_rlvr.schemas import GdroSamples
    from repro.metrics.tables import RunMetrics

    MODEL_CACHE.clear()
    jobwarm.warm_up()  # what the server runs before it listens: the libraries, the project's modules, the tables
    assert jobwarm._warm_tables() >= 20  # the table contracts of the pipeline and of every family
    for model in (RunMetrics, GdroSamples):
        assert (model, threading.get_ident()) in MODEL_CACHE
