"""Review additions to verdicts: every metric per arm with its interval on the card, and review profiles
(repro.metrics.PROFILES) averaged per arm and drawn as small multiples on the verdict plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.integrity import RunEvidence
from repro.report import render_card, render_plot
from repro.runspec import RunSpec
from repro.verdict import arm_metric_intervals, arm_profiles


def _run(arm: str, seed: int, metric: float, ys: list[float]) -> RunEvidence:
    spec = RunSpec("dro_clip", "ci", "0" * 12, seed, {})
    profile = {"panel": ["noise"] * 2 + ["blur"] * 2, "x": [0.0, 1.0] * 2, "y": ys}
    status = {"status": "ok", "profiles": {"r1_by_perturbation": profile}}
    return RunEvidence(arm, spec, {}, {"clean_r1": metric}, status)


@pytest.fixture
def evidence() -> dict[str, list[RunEvidence]]:
    return {
        "erm": [_run("erm", 0, 0.3, [0.3, 0.2, 0.3, 0.25]), _run("erm", 1, 0.5, [0.5, 0.4, 0.5, 0.45])],
        "dro": [_run("dro", 0, 0.2, [0.2, 0.2, 0.2, 0.1]), _run("dro", 1, 0.2, [0.2, 0.2, 0.2, 0.3])],
    }


def test_metric_intervals_and_profiles_are_averaged_per_arm(evidence):
    intervals = arm_metric_intervals(evidence, alpha=0.05)
    assert intervals["clean_r1"]["erm"]["mean"] == pytest.approx(0.4)
    assert intervals["clean_r1"]["erm"]["lo"] < 0.4 < intervals["clean_r1"]["erm"]["hi"]
    assert intervals["clean_r1"]["dro"]["lo"] == pytest.approx(0.2)  # no spread, zero-width interval
    profiles = arm_profiles(evidence, alpha=0.05)["r1_by_perturbation"]
    assert profiles["x_label"].startswith("severity")
    assert profiles["panels"]["noise"]["erm"]["x"] == [0.0, 1.0]
    assert profiles["panels"]["noise"]["erm"]["mean"] == pytest.approx([0.4, 0.3])
    assert profiles["panels"]["blur"]["dro"]["mean"] == pytest.approx([0.2, 0.2])


def _verdict(evidence) -> dict:
    return {
        "verdict": "inconclusive",
        "claim_id": "toy",
        "scale": "ci",
        "hypothesis": "h",
        "reason": "r",
        "kind": "reproduction",
        "statement": "s",
        "quote": "q",
        "paper": "1911.08731v2",
        "paper_title": "t",
        "locator": "l",
        "metric": "clean_r1",
        "higher_is_better": True,
        "expectation": {"effect": "difference", "relation": "greater", "value": None, "margin": 0.02, "alpha": 0.05},
        "arms": {
            "dro": {
                "role": "treatment",
                "params_key": "0" * 12,
                "run_dir": "results/runs/dro_clip/ci/000000000000",
                "seeds": [0, 1],
                "all_metrics_mean": {"clean_r1": 0.2},
                "n": 2,
                "values": [0.2, 0.2],
                "mean": 0.2,
                "sd": 0,
                "min": 0.2,
                "median": 0.2,
                "max": 0.2,
            },
            "erm": {
                "role": "baseline",
                "params_key": "1" * 12,
                "run_dir": "results/runs/dro_clip/ci/111111111111",
                "seeds": [0, 1],
                "all_metrics_mean": {"clean_r1": 0.4},
                "n": 2,
                "values": [0.3, 0.5],
                "mean": 0.4,
                "sd": 0.14,
                "min": 0.3,
                "median": 0.4,
                "max": 0.5,
            },
        },
        "decision": {
            "outcome": "inconclusive",
            "reason": "r",
            "extra": {},
            "estimate": -0.2,
            "lo": -0.8,
            "hi": 0.4,
            "mode": "paired-t direction",
            "p_verify": 0.8,
            "p_falsify": 0.3,
        },
        "effect_values": [-0.1, -0.3],
        "arm_metrics": arm_metric_intervals(evidence, 0.05),
        "profiles": arm_profiles(evidence, 0.05),
    }


def test_card_and_plot_show_them(evidence, tmp_path):
    verdict = _verdict(evidence)
    card = render_card(verdict)
    assert "## All metrics per arm" in card and "| clean_r1 (claim) | 0.2 [0.2, 0.2] | 0.4 [" in card
    png = tmp_path / "toy.png"
    render_plot(verdict, png)
    without = tmp_path / "plain.png"
    render_plot({**verdict, "profiles": {}}, without)
    assert png.stat().st_size > without.stat().st_size > 0  # the profile panels are drawn
    assert Path(png).read_bytes()[:4] == b"\x89PNG"


def test_the_profile_figure_is_laid_out_without_overlaps(evidence):
    """The figure with review profiles is laid out by hand (repro.plots: no layout engine, which cost 2 s a plot):
    with many panels, no two axes (with their titles and tick labels) overlap, and the figure's title, legend and
    shared labels overlap no axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro import plots
    from repro.verdict_record import as_verdict

    verdict = _verdict(evidence)
    profile = verdict["profiles"]["r1_by_perturbation"]
    panel = next(iter(profile["panels"].values()))
    profile["panels"] = {f"perturbation_{i}": panel for i in range(28)}  # dro_clip's ci count: 5 rows of 6
    fig = plots._plot_effect(plt, as_verdict(verdict), "black")
    fig.suptitle("toy [ci]: inconclusive", fontsize=10)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        axes = [ax for ax in fig.axes if ax.axison]
        assert len(axes) == 2 + 28
        boxes = [ax.get_tightbbox(renderer) for ax in axes]
        for i, a in enumerate(boxes):
            assert fig.bbox.x0 <= a.x0 and a.x1 <= fig.bbox.x1 and fig.bbox.y0 <= a.y0 and a.y1 <= fig.bbox.y1, i
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b)
        others = [*fig.legends, *fig.texts]
        assert len(others) == 4  # legend, title, x label, y label
        for artist in others:
            box = artist.get_window_extent(renderer)
            assert not any(box.overlaps(b) for b in boxes), artist  # nor their titles and tick labels
    finally:
        plt.close(fig)


def test_every_profile_line_and_band_lies_inside_the_shared_limits(evidence):
    """The panels share limits set once from the data (no autoscaling per artist): no mean, lower or upper bound of
    any arm in any panel falls outside them, with a margin on each side, and the limits follow the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro import plots
    from repro.verdict_record import as_verdict

    verdict = _verdict(evidence)
    profile = verdict["profiles"]["r1_by_perturbation"]
    panel = next(iter(profile["panels"].values()))
    wide = {
        arm: {**line, "hi": [h + 5.0 for h in line["hi"]], "x": [x - 3 for x in line["x"]]}
        for arm, line in panel.items()
    }
    profile["panels"] = {"narrow": panel, "wide": wide}
    fig = plots._plot_effect(plt, as_verdict(verdict), "black")
    try:
        grid = [ax for ax in fig.axes[2:] if ax.axison]
        assert len(grid) == 2
        lines = [line for p in profile["panels"].values() for line in p.values()]
        xs = [x for line in lines for x in line["x"]]
        ys = [y for line in lines for k in ("mean", "lo", "hi") for y in line[k] if y is not None]
        for ax in grid:
            (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
            assert x0 < min(xs) and max(xs) < x1 and y0 < min(ys) and max(ys) < y1
            assert max(ys) + 5 > y1  # from the data, not a fixed range
    finally:
        plt.close(fig)
