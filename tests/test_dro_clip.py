"""The dro_clip family (tiny settings): its metrics and review profile are computed from what it wrote, incoherent
arms are rejected, and the full-scale data path runs. tests/test_families.py runs the family contract (it trains,
writes valid tables, is deterministic)."""

from __future__ import annotations

import pytest

from repro.families.dro_clip import experiment as dro_clip
from repro.families.dro_clip import metrics as dro_clip_metrics
from repro.metrics.scoring import compute_run_metrics
from repro.plan import make_run
from repro.runner import run_arm

from .conftest import record_progress_bars

TINY = {"train_pairs": 96, "eval_per_group": 2, "steps": 4, "batch_size": 16, "warmup_steps": 1, "curve_every": 2}
ARMS = {
    "erm": {},
    "dro_corruptions": {"objective": "group_dro", "dro_groups": "corruption", "augment": "corruptions"},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The corruption-group DRO arm at seed 0 (tests/test_families.py runs the family contract: weights change,
    tables validate, determinism)."""
    spec = make_run("dro_clip", "ci", 0, ARMS["dro_corruptions"], TINY)
    path = tmp_path_factory.mktemp("dro_corruptions0") / "run.json"
    with pytest.MonkeyPatch.context() as patch:
        bars = record_progress_bars(patch)
        record = run_arm(spec, path)
    return {("dro_corruptions", 0): (spec, path, record), "progress bars": bars}


def test_metrics_and_profiles_from_predictions(runs):
    _, path, record = runs[("dro_corruptions", 0)]
    assert record["artifacts"]["tables"]["ranks"]["rows"] == 2 * 12 * (1 + 5 * 28)  # both directions
    table, diagnostics = compute_run_metrics(path)
    values = dict(zip(table["metric"], table["value"], strict=True))
    assert set(values) == set(dro_clip_metrics.METRICS)
    assert 0 <= values["worst_corruption_r1"] <= values["mean_corruption_r1"] <= 1
    profile = diagnostics["profiles"]["r1_by_perturbation"]
    assert len(set(profile["panel"])) == 28 and set(profile["x"]) == {0, 1, 2, 3, 4, 5}
    assert diagnostics["input_dependence"]["ranks.distinct_output_profiles"] > 1


def test_dro_moves_q_and_logs_its_trajectory(runs):
    """The mechanism: the DRO arm's adversary leaves uniform (G·max q > 1 at every logged step after the first
    update) and the curve records which group it favours; ERM's q never moves (tests/test_mechanism.py)."""
    import pandas as pd

    _, path, _ = runs[("dro_corruptions", 0)]
    curve = pd.read_parquet(path.parent / "curve.parquet")
    ratio = curve["q_max"] * curve["groups"]
    assert (curve["groups"] == len(dro_clip.corruption_groups(dro_clip.Params()))).all()
    assert ratio.iloc[0] > 1
    assert curve["q_argmax"].between(0, curve["groups"].iloc[0] - 1).all()
    table, _ = compute_run_metrics(path)
    values = dict(zip(table["metric"], table["value"], strict=True))
    assert values["dro_weight_mean_ratio"] > 1.0
    assert dro_clip.Params().dro_step_size * dro_clip.Params().steps >= 10  # η_q·T: q can concentrate at ci


def test_evaluation_shows_progress_in_the_runs_log(runs):
    """Training and evaluation each have a bar in the run's log (evaluation over the perturbations: the longest part
    of a dro_clip run after training)."""
    training = f"{ARMS['dro_corruptions']['objective']}/{ARMS['dro_corruptions']['augment']}"
    assert runs["progress bars"] == [training, "evaluate: image perturbations", "evaluate: text perturbations"]


def test_incoherent_arms_are_rejected():
    with pytest.raises(ValueError, match="augment: corruptions"):
        dro_clip.Params(objective="group_dro", dro_groups="corruption")
    with pytest.raises(ValueError, match="unknown train_corruptions"):
        dro_clip.Params(train_corruptions=("gaussian_noise", "sepia"))
    with pytest.raises(ValueError, match="needs data_dir"):
        dro_clip.Params(data="flickr30k")


def test_full_scale_data_path_on_a_fake_karpathy_folder(tmp_path):
    """The full-scale code path (Karpathy split file + image folder + open_clip's own BPE tokenizer), on CPU,
    with a tiny random model instead of ViT-B-32 and four synthetic photos: no download, no GPU."""
    import json

    import numpy as np
    import open_clip
    from PIL import Image

    config = json.loads((dro_clip.MODEL_CONFIGS / "repro-tiny-clip-p8.json").read_text())
    config["text_cfg"].update(vocab_size=49408, context_length=32)  # open_clip's full BPE vocabulary
    (tmp_path / "test-tiny-bpe.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "test-tiny-bpe.json")
    data = tmp_path / "flickr"
    (data / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    entries = []
    for i, split in enumerate(["train"] * 6 + ["test"] * 4):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(data / "images" / f"{i}.jpg")
        sentences = [{"raw": f"photo {i} caption {j} of a {split} scene"} for j in range(5)]
        entries.append({"filename": f"{i}.jpg", "split": split, "sentences": sentences})
    (data / "dataset_flickr30k.json").write_text(json.dumps({"images": entries}))
    params = {**TINY, "data": "flickr30k", "data_dir": str(data), "model": "test-tiny-bpe", "batch_size": 4}
    record = run_arm(make_run("dro_clip", "ci", 0, ARMS["dro_corruptions"], params), tmp_path / "run" / "run.json")
    assert record["status"] == "completed", record["error"]
    assert record["artifacts"]["tables"]["ranks"]["rows"] == 2 * 4 * (1 + 5 * 28)
