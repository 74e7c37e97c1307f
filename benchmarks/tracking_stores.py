"""How long the tracking job takes on each kind of store: one finished workflow's verdicts synced by ``repro track``
(the tracking rule's command) into

* a new SQLite file (MLflow's default, the reference),
* an ``mlflow server`` on a new SQLite file (what HTTP adds), and
* an ``mlflow server`` on a new PostgreSQL database (a team server; a throw-away cluster, as in tests/realsystems),

each synced twice: the first sync writes everything, the second (idempotent) writes nothing. Times and ratios
against the SQLite file are printed (and written as JSON with ``--out``); nothing is asserted. Needs PostgreSQL
(scripts/install-real-systems.sh).

    python benchmarks/tracking_stores.py [--workdir .] [--scale ci] [--out rows.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.realsystems.systems import create_database, mlflow_server, postgres_cluster  # noqa: E402


def _track(workdir: Path, scale: str, uri: str, out: Path) -> tuple[float, dict]:
    verdicts = sorted(str(p) for p in (workdir / "results/verdicts" / scale).glob("*.json"))
    cmd = [sys.executable, "-m", "repro", "track", "--scale", scale, "--uri", uri, "--out", str(out), *verdicts]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env={**os.environ})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"repro track on {uri} failed:\n{proc.stderr[-3000:]}")
    return elapsed, json.loads(out.read_text())


def _measure(name: str, workdir: Path, scale: str, uri: str, tmp: Path) -> dict:
    first, receipt = _track(workdir, scale, uri, tmp / f"{name}-1.json")
    second, again = _track(workdir, scale, uri, tmp / f"{name}-2.json")
    row = {"store": name, "first_s": round(first, 2), "second_s": round(second, 2)}
    row |= {"written": receipt["created"], "unchanged_second": again["unchanged"], "written_second": again["created"]}
    print(f"{name:<22} first sync {first:7.1f} s ({receipt['created']} runs)   second {second:6.1f} s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--scale", default="ci")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rows.append(_measure("sqlite file", workdir, args.scale, f"sqlite:///{tmp}/file.db", tmp))
        with mlflow_server(f"sqlite:///{tmp}/server.db", tmp / "art-sqlite", tmp / "sqlite-server.log") as uri:
            rows.append(_measure("server on sqlite", workdir, args.scale, uri, tmp))
        with postgres_cluster() as cluster:
            backend = create_database(cluster["port"], "mlflow")
            with mlflow_server(backend, tmp / "art-pg", tmp / "pg-server.log") as uri:
                rows.append(_measure("server on postgresql", workdir, args.scale, uri, tmp))
    reference = rows[0]["first_s"]
    for row in rows:
        row["first_ratio"] = round(row["first_s"] / reference, 2)
        print(f"{row['store']:<22} first sync / sqlite file: {row['first_ratio']:.2f}x")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
