"""The verdict plot (``results/verdicts/<scale>/<claim>.png``, beside its card): the evidence against the claim,
drawn by kind — per-seed values and the effect's interval against the claimed boundary (with the review profiles
as small multiples), a derivation's recomputed interval against the reported one, a property's largest error
against its tolerance, or the reason where there is nothing to draw."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro.files import write_with
from repro.report_style import COLORS
from repro.verdict_record import Verdict, as_verdict

PROFILE_COLUMNS = 6
FIXED_LAYOUT = "repro_fixed_layout"
"""Attribute set on a figure laid out by hand (no tight layout pass before it is saved)."""


def render_plot(v: Verdict | Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = as_verdict(v)
    color = COLORS[v.verdict]
    if v.decision is not None and v.arms:
        fig = _plot_effect(plt, v, color)
    elif v.derivation is not None:
        fig = _plot_derivation(plt, v, color)
    elif v.property_result is not None:
        fig = _plot_property(plt, v, color)
    else:
        fig, ax = plt.subplots(figsize=(7, 1.6))
        ax.axis("off")
        ax.text(0.01, 0.5, f"{v.verdict}: {v.reason[:150]}", fontsize=8, va="center", wrap=True)
    fig.suptitle(f"{v.claim_id} [{v.scale}]: {v.verdict}", fontsize=10, color=color)
    if not getattr(fig, FIXED_LAYOUT, False):
        fig.tight_layout()
    try:  # whole or not at all, and a failed write names the file (repro.files.write_with)
        write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None}))
    finally:
        plt.close(fig)


def _plot_effect(plt, v: Verdict, color: str):
    """A reproduction: each arm's per-seed values, and the effect with its interval against the claim."""
    if v.profiles:
        fig, (ax_arms, ax_eff) = _figure_with_profiles(plt, v)
    else:
        fig, (ax_arms, ax_eff) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
    names = list(v.arms)
    for i, name in enumerate(names):
        arm = v.arms[name]
        ax_arms.scatter(
            [i] * arm.n,
            arm.values,
            s=12,
            alpha=0.6,
            color="#cf222e" if arm.role == "negative control" else "#0969da",
        )
        ax_arms.hlines(arm.mean, i - 0.25, i + 0.25, color="black")
    ax_arms.set_xticks(range(len(names)), [f"{n}\n({v.arms[n].role})" for n in names], fontsize=7)
    ax_arms.set_ylabel(v.metric)
    ax_arms.set_title("per-seed values (bar: mean)", fontsize=9)
    d, exp = v.decision, v.expectation
    theta = exp["value"] if exp["value"] is not None else 0.0
    ax_eff.errorbar(
        [d.estimate],
        [0],
        xerr=[[d.estimate - d.lo], [d.hi - d.estimate]],
        fmt="o",
        color=color,
        capsize=6,
        label="effect and interval",
    )
    if v.effect_values is not None:
        ax_eff.scatter(v.effect_values, [0.15] * len(v.effect_values), s=10, alpha=0.5, color="gray", label="per seed")
    if exp["relation"] in ("greater", "less"):
        ax_eff.axvline(0, color="black", lw=1, label="0")
        ax_eff.axvspan(-exp["margin"], exp["margin"], color="gray", alpha=0.15, label=f"±δ = {exp['margin']:g}")
    else:
        ax_eff.axvline(theta, color="#0969da", lw=1.5, label=f"claimed θ = {theta:g}")
        ax_eff.axvspan(theta - exp["margin"], theta + exp["margin"], color="#0969da", alpha=0.12, label="θ ± δ")
    ax_eff.set_yticks([])
    ax_eff.set_ylim(-0.5, 0.5)
    ax_eff.legend(fontsize=7, loc="upper right")
    ax_eff.set_title(f"effect ({exp['effect']}) vs claim", fontsize=9)
    return fig


def _plot_derivation(plt, v: Verdict, color: str):
    """A derivation: the recomputed value with its interval over the inputs' rounding, and the reported one."""
    fig, ax = plt.subplots(figsize=(7, 2.4))
    d = v.derivation
    lo, hi = d.computed_interval
    ax.errorbar(
        [d.computed],
        [0.2],
        xerr=[[d.computed - lo], [hi - d.computed]],
        fmt="o",
        color=color,
        capsize=6,
        label=f"recomputed: {d.formula}",
    )
    rlo, rhi = d.reported_interval
    reported = d.reported["value"]
    ax.errorbar(
        [reported],
        [-0.2],
        xerr=[[reported - rlo], [rhi - reported]],
        fmt="s",
        color="#0969da",
        capsize=6,
        label="reported (± rounding)",
    )
    ax.set_yticks([])
    ax.set_ylim(-0.6, 0.6)
    ax.legend(fontsize=7)
    return fig


def _plot_property(plt, v: Verdict, color: str):
    """A property: the largest error over the instances and the smallest over the perturbed controls, against the
    tolerance (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    p = v.property_result
    tol = v.tolerance
    ax.axvline(max(tol, 1e-300), color="black", lw=1, label=f"tolerance {tol:g}")
    ax.scatter([max(p.max_abs_err, 1e-300)], [0.2], color=color, label="largest |lhs − rhs| over instances")
    if p.control_min_abs_err is not None:
        ax.scatter(
            [max(p.control_min_abs_err, 1e-300)],
            [-0.2],
            color="#cf222e",
            marker="x",
            label="smallest |lhs − rhs| over perturbed controls",
        )
    ax.set_xscale("log")
    ax.set_yticks([])
    ax.set_ylim(-0.6, 0.6)
    ax.legend(fontsize=7)
    return fig


def _figure_with_profiles(plt, v: Verdict):
    """The effect figure on top, and below it each review profile (each family's ``PROFILES``) as small multiples:
    one panel per profile panel (e.g. per perturbation), one line per arm with its t-interval over seeds."""
    panels = [(name, panel) for name, profile in v.profiles.items() for panel in profile["panels"]]
    rows = math.ceil(len(panels) / PROFILE_COLUMNS)
    # Fixed margins in inches, not a layout engine: constrained layout measured every tick label of the ~30 axes
    # several times, about 2 s of each such plot's 2.2 s.
    top_h, bottom_h = 3.8, 1.9 * rows
    width, height = 12.0, top_h + bottom_h
    fig = plt.figure(figsize=(width, height))
    setattr(fig, FIXED_LAYOUT, True)
    sides = {"left": 0.7 / width, "right": 1 - 0.1 / width}

    def frac(inches: float) -> float:
        return inches / height

    top = fig.add_gridspec(
        1, 2, width_ratios=[1.3, 1], wspace=0.06, top=1 - frac(0.7), bottom=1 - frac(top_h - 0.45), **sides
    )
    axes = [fig.add_subplot(top[0, 0]), fig.add_subplot(top[0, 1])]
    grid_spec = fig.add_gridspec(
        rows, PROFILE_COLUMNS, wspace=0.12, hspace=0.32, top=frac(bottom_h - 0.6), bottom=frac(0.45), **sides
    )
    grid = grid_spec.subplots(sharex=True, sharey=True, squeeze=False).ravel()
    # The shared limits are set once from the data, and each panel's title sits at a fixed height: autoscaling
    # after every line and band, and placing titles by the tick labels' extents, were most of this figure's time.
    lines = [line for name, panel in panels for line in v.profiles[name]["panels"][panel].values()]
    grid[0].set_autoscale_on(False)
    grid[0].set_xlim(*_padded([line["x"] for line in lines]))
    grid[0].set_ylim(*_padded([line[k] for line in lines for k in ("mean", "lo", "hi")]))
    grid[0].locator_params(nbins=4)
    arm_colors = {arm: plt.get_cmap("tab10")(i % 10) for i, arm in enumerate(v.arms)}
    for ax, (name, panel) in zip(grid, panels, strict=False):
        for arm, line in v.profiles[name]["panels"][panel].items():
            ax.plot(line["x"], line["mean"], marker="o", ms=2.5, lw=1.2, color=arm_colors[arm], label=arm)
            if all(lo is not None for lo in line["lo"]):
                ax.fill_between(line["x"], line["lo"], line["hi"], color=arm_colors[arm], alpha=0.12, lw=0)
        ax.set_title(panel, fontsize=7, y=1.0, pad=3)
        ax.tick_params(labelsize=6)
    for ax in grid[len(panels) :]:
        ax.axis("off")
    first = v.profiles[panels[0][0]]
    fig.text(0.5, frac(0.08), first["x_label"], ha="center", va="bottom", fontsize=8)
    fig.text(0.12 / width, frac(bottom_h / 2), first["y_label"], rotation=90, ha="left", va="center", fontsize=8)
    handles, labels = grid[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="center", bbox_to_anchor=(0.5, frac(bottom_h - 0.22)), ncol=len(labels), fontsize=7,
        frameon=False,
    )  # fmt: skip
    return fig, axes


def _padded(series) -> tuple[float, float]:
    """The range of ``series`` (lists of numbers; None and non-finite skipped) with matplotlib's default 5 % margins."""
    values = [x for xs in series for x in xs if x is not None and math.isfinite(x)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad
