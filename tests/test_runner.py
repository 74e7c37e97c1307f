"""The run harness: a killed run never looks finished; a failing experiment is recorded, not raised; weight snapshots
hash what is trained; the numeric environment is recorded."""

import copy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from repro import registry
from repro.metrics import MetricsError
from repro.metrics.scoring import compute_run_metrics
from repro.plan import make_run
from repro.runner import Recorder, environment, run_arm

from .conftest import ROOT


def test_killed_run_leaves_no_run_json(tmp_path):
    spec = make_run("planted", "ci", 0, {"steps": 2_000_000})
    out = tmp_path / "seed0" / "run.json"
    log = tmp_path / "log"
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "repro", "run-arm", "--spec", spec.to_json(), "--out", str(out)],
            cwd=ROOT,
            stdout=handle,
            stderr=handle,
        )
        deadline = time.time() + 60
        while time.time() < deadline and "train:" not in log.read_text():  # killed mid-training
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert not list(out.parent.glob("*.tmp"))


def test_failed_run_cannot_be_scored(tmp_path):
    spec = make_run("planted", "ci", 0, {"plant": "crash"})
    record = run_arm(spec, tmp_path / "run.json")
    assert record["status"] == "failed" and "planted crash" in record["error"]
    try:
        compute_run_metrics(tmp_path / "run.json")
    except MetricsError as exc:
        assert "failed" in str(exc)
    else:
        raise AssertionError("a failed run was scored")


def test_stale_outputs_are_removed_before_a_rerun(tmp_path):
    stale = tmp_path / "predictions-items.parquet"
    stale.write_text("left over from a killed run")
    spec = make_run("planted", "ci", 0, {"plant": "crash"})
    run_arm(spec, tmp_path / "run.json")
    assert not stale.exists()


def snapshot_pair(tmp_path, init, final, between=None) -> dict:
    """run.json's artifacts.weights for 'init' and 'final' snapshots of the given objects, with ``between()``
    called in between (the training)."""
    recorder = Recorder(tmp_path, registry.get_schemas("planted"))
    recorder.snapshot_weights("init", init)
    if between is not None:
        between()
    recorder.snapshot_weights("final", final)
    recorder.log_curve(0, loss=1.0)
    recorder.write_predictions("items", pd.DataFrame({"item": [0, 1], "label": [0, 1], "prob": [0.2, 0.7]}))
    return recorder.finish()["weights"]


def test_snapshots_hash_the_trained_parameters_of_a_module_or_its_optimiser(tmp_path):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    model[0].bias.requires_grad_(False)  # frozen: not trained, so not part of the snapshot

    def train():
        with torch.no_grad():
            model[1].weight += 1.0

    trainable = [p for p in model.parameters() if p.requires_grad]
    for trained, source in (
        (model, "module"),
        (torch.optim.AdamW(trainable, lr=0.1), "optimizer"),
        (torch.optim.SGD([{"params": trainable[:1]}, {"params": trainable[1:]}], lr=0.1), "optimizer"),
    ):
        weights = snapshot_pair(tmp_path, trained, trained, train)
        init, final = weights["init"], weights["final"]
        assert init["source"] == final["source"] == source
        assert (final["n_tensors"], final["n_params"]) == (3, 6 + 2 + 1)
        assert final["same_as_init"] and final["l2_delta_from_init"] == pytest.approx(2**0.5)
        assert init["sha256"] != final["sha256"]


def test_final_snapshot_must_be_of_the_same_object_and_tensors(tmp_path):
    import torch

    model = torch.nn.Linear(3, 1)
    assert not snapshot_pair(tmp_path, model, copy.deepcopy(model))["final"]["same_as_init"]

    def swap_weight():
        model.weight = torch.nn.Parameter(model.weight.detach() + 1.0)  # trains a tensor 'init' never saw

    assert not snapshot_pair(tmp_path, model, model, swap_weight)["final"]["same_as_init"]


def test_loose_tensors_and_frozen_models_are_recorded_as_such(tmp_path):
    import torch

    decoy = torch.zeros(4)

    def move_decoy():
        decoy.add_(1.0)

    weights = snapshot_pair(tmp_path, [decoy], [decoy], move_decoy)
    assert weights["init"]["source"] == weights["final"]["source"] == "tensors"
    frozen = torch.nn.Linear(3, 1).requires_grad_(False)  # a negative control that trains nothing
    weights = snapshot_pair(tmp_path, frozen, frozen)
    assert (weights["final"]["n_tensors"], weights["final"]["n_params"]) == (0, 0)
    assert weights["final"]["same_as_init"] and weights["init"]["sha256"] == weights["final"]["sha256"]


def test_environment_records_the_numeric_environment_in_effect(tmp_path, monkeypatch):
    import numpy as np
    import torch

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    record = run_arm(make_run("planted", "ci", 0, {"plant": "crash"}), tmp_path / "run.json", threads=1)
    env = record["environment"]
    assert env["threads"] == env["intra_op_threads"] == torch.get_num_threads() == 1
    assert env["aten_cpu_capability_env"] == "default" and env["mkl_cbwr_env"] == "COMPATIBLE"
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    shown = torch.__config__.show()
    assert f"BLAS_INFO={env['torch_blas']}," in shown and f"LAPACK_INFO={env['torch_lapack']}," in shown
    numpy_blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert env["numpy_blas"] == f"{numpy_blas['name']} {numpy_blas['version']}"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file() and "model name" in cpuinfo.read_text():
        assert env["cpu"] in cpuinfo.read_text() and env["cpu"]
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    monkeypatch.delenv("MKL_CBWR")
    with_four = environment(threads=4)
    assert with_four["threads"] == 4 and with_four["intra_op_threads"] == 1  # what is in effect, not what was asked
    assert with_four["aten_cpu_capability_env"] is None and with_four["mkl_cbwr_env"] is None


def test_recording_stays_off_torch_dynamo():
    """Snapshots and the environment record never import torch._dynamo (about 2 s in a process that has not
    imported it yet: constructing a torch optimiser does, and so does the job server's preload)."""
    code = (
        "import sys, torch\n"
        "from repro.runner import _trained_tensors, environment\n"
        "model = torch.nn.Linear(2, 1)\n"
        "_trained_tensors(model), environment(1)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
