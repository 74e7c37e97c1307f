"""A one-node SLURM cluster from Debian's packages (slurm-wlm, munge) for tests/realsystems/test_slurm.py.

munged, slurmctld and slurmd are the real daemons, on loopback and free ports, with their key, state, spool and logs in
a temporary folder. The configuration is profiles/slurm/test-cluster/slurm.conf.in, written to /etc/slurm/slurm.conf:
that is where sbatch, squeue and the srun inside every job look (the SLURM executor plugin's job step clears SLURM_*
variables, SLURM_CONF among them, before its srun). So the cluster needs root, and it refuses to replace a
slurm.conf it did not write. No accounting: the completion log (jobcomp/filetxt) records every job that ran."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import ROOT
from .systems import REQUIRED, free_ports

TEMPLATE = ROOT / "profiles" / "slurm" / "test-cluster" / "slurm.conf.in"
CONF = Path("/etc/slurm/slurm.conf")
MARK = "# written by repro's tests/realsystems/slurm.py\n"
DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
INSTALL = "apt-get install -y slurm-wlm munge (scripts/install-real-systems.sh)"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} ($REPRO_REAL_SYSTEMS=required)")
    pytest.skip(reason)


def jobs_completed(jobcomp: Path) -> list[dict[str, str]]:
    """The completion log's records (one per job that ended), as ``{field: value}``."""
    if not jobcomp.exists():
        return []
    records = []
    for line in jobcomp.read_text().splitlines():
        records.append(dict(item.split("=", 1) for item in line.split() if "=" in item))
    return records


@contextlib.contextmanager
def slurm_cluster() -> Iterator[dict]:
    """Start munged, slurmctld and slurmd; yield ``{"dir", "jobcomp", "env"}`` once the node is idle (``env``: this
    process's environment without SLURM_CONF, for the commands that use the cluster); stop them
    and remove the configuration and the folder on exit."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        _unavailable(f"SLURM is not installed (no {', '.join(missing)}): {INSTALL}")
    if os.geteuid() != 0:
        _unavailable("the test SLURM cluster needs root (its daemons, and /etc/slurm/slurm.conf)")
    if CONF.exists() and not CONF.read_text().startswith(MARK):
        _unavailable(f"{CONF} exists and was not written by this test: not replacing a real cluster's configuration")
    root = Path(tempfile.mkdtemp(prefix="repro-slurm-"))
    root.chmod(0o755)  # munged's socket must be reachable by every user's commands
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir(mode=0o755)
    munge = root / "munge"
    subprocess.run(["mungekey", "--create", "--keyfile", str(munge / "munge.key")], check=True, capture_output=True)
    files = {"key-file": "munge.key", "socket": "munge.socket", "pid-file": "munged.pid", "log-file": "munged.log"}
    files["seed-file"] = "munged.seed"
    options = [f"--{option}={munge / name}" for option, name in files.items()]
    subprocess.run(["munged", "--force", *options], check=True, capture_output=True)
    ctld_port, slurmd_port = free_ports(2)
    fields = {
        "HOST": socket.gethostname().split(".")[0],
        "DIR": str(root),
        "CTLD_PORT": str(ctld_port),
        "SLURMD_PORT": str(slurmd_port),
        "CPUS": str(os.cpu_count() or 1),
        "MEM_MB": str(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20),
    }
    text = TEMPLATE.read_text()
    for name, value in fields.items():
        text = text.replace(f"@{name}@", value)
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(MARK + text)
    env = {key: value for key, value in os.environ.items() if key != "SLURM_CONF"}
    try:
        subprocess.run(["slurmctld", "-i"], check=True, capture_output=True, env=env)
        subprocess.run(["slurmd"], check=True, capture_output=True, env=env)
        _wait_idle(root, env)
        yield {"dir": root, "jobcomp": root / "log" / "jobcomp.log", "env": env}
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["scontrol", "shutdown"], capture_output=True, env=env, timeout=30)
        for pidfile in (root / "slurmctld.pid", root / "slurmd.pid"):
            _wait_gone(pidfile)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["munged", "--stop", f"--socket={munge / 'munge.socket'}"], capture_output=True, timeout=30)
        if CONF.exists() and CONF.read_text().startswith(MARK):
            CONF.unlink()
        shutil.rmtree(root, ignore_errors=True)


def _wait_idle(root: Path, env: dict, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env)
        state = proc.stdout.strip() or proc.stderr.strip()
        if proc.returncode == 0 and state.split() and all(s == "idle" for s in state.split()):
            return
        time.sleep(0.5)
    logs = "\n".join(p.read_text()[-2000:] for p in sorted((root / "log").glob("*.log")))
    raise AssertionError(f"the test SLURM node did not become idle within {timeout:g} s (sinfo: {state!r})\n{logs}")


def _wait_gone(pidfile: Path, timeout: float = 30) -> None:
    """Until the daemon of ``pidfile`` has exited (SIGKILL after ``timeout``)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)
