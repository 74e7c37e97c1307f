"""The RL phase of a GDRO run: GRPO, Prompt-GDRO or Rollout-GDRO from the warm start (arXiv 2601.19280v1).

Each step of :func:`train_rl` is one named function, in the order the step runs them: choose the prompts and their
rollout counts, roll out and score (updating the online pass@k classifier), compute the advantages, score the
rollouts under π_old and π_ref, update the policy in mini-batches, update the adversaries, log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from repro.families.gdro_rlvr.policy import forward_precision, generate, teacher_forced
from repro.families.gdro_rlvr.schemas import GDRO_MAX_BINS, GdroCurve
from repro.methods.difficulty_gdro import (
    PassAtKClassifier,
    PromptGDRO,
    RolloutGDRO,
    bin_means,
    weighted_standard_error,
)

if TYPE_CHECKING:
    from repro.families.gdro_rlvr.data import TaskData
    from repro.families.gdro_rlvr.experiment import Params


def curve_row(**values) -> dict[str, float]:
    """A full curve row: every GdroCurve column, NaN unless given."""
    row = dict.fromkeys((c for c in GdroCurve.to_schema().columns if c != "step"), math.nan)
    row.update(values)
    return row


def _per_bin(name: str, values: np.ndarray) -> dict[str, float]:
    out = {f"{name}_bin{b}": math.nan for b in range(GDRO_MAX_BINS)}
    out.update({f"{name}_bin{b}": float(v) for b, v in enumerate(values)})
    return out


@dataclass
class Adversaries:
    """The online difficulty classifier (§3.1) and the two adversaries (§3.2, §3.3); each method uses its own."""

    classifier: PassAtKClassifier
    prompt: PromptGDRO
    rollout: RolloutGDRO

    @classmethod
    def build(cls, params: Params) -> Adversaries:
        n_bins = params.n_bins
        return cls(
            classifier=PassAtKClassifier(
                edges=tuple(np.arange(1, n_bins) / n_bins),
                history=params.passk_history,
                hysteresis=params.hysteresis,
            ),
            prompt=PromptGDRO(
                n_bins=n_bins,
                eta=params.eta_q,
                gamma=params.gamma_q,
                ema=params.ema_beta,
                weight_cap=params.weight_cap,
                score_clip=params.score_clip,
                share_normalize=params.share_normalize,
                share_floor=params.share_floor,
                standardize=params.score_standardize,
                weighting=params.prompt_weighting,
            ),
            rollout=RolloutGDRO(
                n_bins=n_bins,
                arms=tuple(range(params.rollout_min, params.rollout_max + 1)),
                mean_budget=params.mean_rollouts,
                eta=params.arm_eta,
                gamma=params.arm_gamma,
                score_ema=params.arm_score_ema,
                dual_lr=params.dual_lr,
                arm_score=params.arm_score,
            ),
        )


@dataclass
class StepRollouts:
    """One step's prompts and their scored rollouts. Rollout rows are grouped by prompt: ``owner[r]`` is the
    prompt (an index into ``chosen``) of rollout ``r``."""

    chosen: np.ndarray
    """Pool indices of the step's prompts."""
    uids: np.ndarray
    rollouts_per_prompt: np.ndarray
    rollouts_per_bin: np.ndarray | None
    """Rollout-GDRO's choice per bin (None for the other methods)."""
    owner: np.ndarray
    ids: object
    mask: object
    completion: object = None
    completion_mask: object = None
    sample_logp: object = None
    rewards: np.ndarray | None = None
    bins: np.ndarray | None = None
    """g_t(x), Eq. 11, from the prompts' visits before this step."""
    act_bins: np.ndarray | None = None
    """The bins the method acts on: Rollout-GDRO's allocation bins, ``bins`` otherwise."""


@dataclass
class StepUpdate:
    per_response: object
    """ℓ_{i,j} of each rollout (Eq. 6), as computed in the update."""
    kl_token: object
    """Token-mean k3 KL to π_ref of each rollout."""
    losses: list[float]
    """The loss of each mini-batch."""


def choose_prompts(data: TaskData, params: Params, rng, players: Adversaries, previous_bins) -> StepRollouts:
    """The step's prompts and their rollout counts: n̄ each, or Rollout-GDRO's exact-budget allocation over bins
    known before generation."""
    chosen = rng.choice(len(data.pool), size=params.prompts_per_step, replace=False)
    uids = data.pool.uid[chosen]
    bins = players.classifier.assign(uids)  # g_t(x) from the prompts' past visits (Eqs. 10–11), before this step
    act_bins, rollouts_per_bin = bins, None
    if params.method == "rollout_gdro":
        act_bins = bins if params.rollout_bins == "history" else previous_bins
        rollouts_per_prompt, rollouts_per_bin = players.rollout.allocate(act_bins)
    else:
        rollouts_per_prompt = np.full(len(chosen), params.mean_rollouts)
    owner = np.repeat(np.arange(len(chosen)), rollouts_per_prompt)
    return StepRollouts(
        chosen=chosen,
        uids=uids,
        rollouts_per_prompt=rollouts_per_prompt,
        rollouts_per_bin=rollouts_per_bin,
        owner=owner,
        ids=data.pool.ids[chosen[owner]],
        mask=data.pool.mask[chosen[owner]],
        bins=bins,
        act_bins=act_bins,
    )


def roll_out(policy, data: TaskData, params: Params, generator, players: Adversaries, batch: StepRollouts) -> None:
    """Generate and verify the rollouts (r ∈ {−1, +1}) and record each prompt's any-correct c_t(x)."""
    policy.eval()
    with forward_precision(policy, params):
        batch.completion, batch.completion_mask, batch.sample_logp = generate(
            policy,
            batch.ids,
            batch.mask,
            data,
            chunk=params.generation_batch,
            generator=generator,
            temperature=params.train_temperature,
            top_k=params.train_top_k,
            top_p=params.train_top_p,
        )
    correct = data.pool.verify(batch.chosen[batch.owner], batch.completion.cpu())
    batch.rewards = np.where(correct, 1.0, -1.0)
    any_correct = np.bincount(batch.owner, weights=correct.astype(float), minlength=len(batch.chosen)) > 0
    # c_t(x) from this step's rollouts (official code), recorded after the step's bins were assigned: it informs
    # the prompt's next visit (official ray_trainer: classify_batch before the update, update_with_passk after it)
    players.classifier.record(batch.uids, any_correct)


def advantages(batch: StepRollouts, params: Params, prompt_gdro: PromptGDRO):
    """(advantages (R,) float32, per-prompt weights, q_t over bins): Eq. 3 per prompt group of any size, clipped
    (App. A), then Prompt-GDRO's weights (Eq. 16)."""
    import torch

    from repro.methods.grpo import clip_advantages, ragged_group_advantages

    group = torch.as_tensor(batch.owner)
    adv = clip_advantages(
        ragged_group_advantages(torch.as_tensor(batch.rewards), group, len(batch.chosen)), params.adv_clip
    )
    if params.method == "prompt_gdro":
        weights, q_step = prompt_gdro.sample_weights(batch.bins), prompt_gdro.distribution()
    else:
        weights, q_step = np.ones(len(batch.chosen)), np.full(params.n_bins, math.nan)
    return (adv * torch.as_tensor(weights)[group]).float(), weights, q_step


def old_and_reference_logp(policy, reference, batch: StepRollouts, params: Params):
    """Per-token log-probabilities of the rollouts under π_old and π_ref."""
    import torch

    filtered = params.train_top_p < 1.0 or params.train_top_k > 0
    args = (batch.ids, batch.mask, batch.completion, batch.completion_mask, params)
    with torch.no_grad(), forward_precision(policy, params):
        # Unfiltered sampling records π_old's own log-probabilities (tests/test_grpo.py); filtered sampling
        # (top-p/top-k) does not, so π_old is then re-scored teacher-forced, as verl does.
        old_logp = teacher_forced(policy, *args) if filtered else batch.sample_logp
        ref_logp = teacher_forced(reference, *args)
    return old_logp, ref_logp


def update(policy, optimizer, batch: StepRollouts, adv, old_logp, ref_logp, params: Params, rng) -> StepUpdate:
    """The update: prompts split into mini-batches, one optimiser step each; ℓ_{i,j} recorded as computed."""
    import torch

    from repro.methods.grpo import grpo_loss, kl_k3
    from repro.methods.sampling import token_logprobs

    owner, completion, completion_mask = batch.owner, batch.completion, batch.completion_mask
    token_mean = params.loss_aggregation == "token_mean"
    policy.train()
    out = StepUpdate(per_response=torch.zeros(len(owner)), kl_token=torch.zeros(len(owner)), losses=[])
    for mb_prompts in np.array_split(rng.permutation(len(batch.chosen)), params.minibatches):
        rows = np.flatnonzero(np.isin(owner, mb_prompts))
        denominator = completion_mask[rows].sum().item() if token_mean else len(rows)
        optimizer.zero_grad()
        total = 0.0
        for s in range(0, len(rows), params.micro_batch):
            r = torch.as_tensor(rows[s : s + params.micro_batch])
            with forward_precision(policy, params):  # log-probabilities come back float32 (token_logprobs)
                logp = token_logprobs(
                    policy,
                    batch.ids[r],
                    batch.mask[r],
                    completion[r],
                    completion_mask[r],
                    temperature=params.train_temperature,
                )
            loss, responses = grpo_loss(
                logp,
                old_logp=old_logp[r],
                ref_logp=ref_logp[r],
                advantages=adv[r],
                mask=completion_mask[r],
                eps_low=params.eps_low,
                eps_high=params.eps_high,
                beta_kl=params.beta_kl,
                aggregation=params.loss_aggregation,
            )
            share = (completion_mask[r].sum().item() if token_mean else len(r)) / denominator
            (loss * share).backward()
            total += loss.item() * share
            out.per_response[r] = responses.detach()
            lengths = completion_mask[r].sum(dim=1).clamp(min=1)
            out.kl_token[r] = ((kl_k3(logp.detach(), ref_logp[r]) * completion_mask[r]).sum(dim=1) / lengths).float()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), params.grad_clip)
        optimizer.step()
        out.losses.append(total)
    return out


def update_adversaries(batch: StepRollouts, step: StepUpdate, params: Params, players: Adversaries) -> np.ndarray:
    """The adversaries read the prompt losses ℓ(x_i) = mean_j ℓ_{i,j} (Eq. 7); returns them."""
    signal = step.per_response
    if params.adversary_loss != "total":  # the official code's PG-only loss
        signal = step.per_response - params.beta_kl * step.kl_token
    prompt_losses = (
        np.bincount(batch.owner, weights=signal.numpy(), minlength=len(batch.chosen)) / batch.rollouts_per_prompt
    )
    if params.method == "prompt_gdro":
        players.prompt.update(batch.bins, prompt_losses)
    elif params.method == "rollout_gdro":
        players.rollout.update(batch.act_bins, batch.rollouts_per_bin, prompt_losses)
    return prompt_losses


def log_rows(step: int, batch: StepRollouts, data: TaskData, weights: np.ndarray) -> pd.DataFrame:
    """The training log's rows of this step: one per prompt."""
    return pd.DataFrame(
        {
            "step": step,
            "uid": batch.uids,
            "tier": data.pool.tier[batch.chosen],
            "bin": batch.act_bins,
            "rollouts": batch.rollouts_per_prompt,
            "weight": weights,
            "reward_mean": np.bincount(batch.owner, weights=batch.rewards, minlength=len(batch.chosen))
            / batch.rollouts_per_prompt,
        }
    )


def step_curve(batch: StepRollouts, step: StepUpdate, prompt_losses, weights, q_step, params: Params, mu: float):
    """The step's curve row: reward, loss, KL, adversary state, the rollout allocation and the WSE (Eq. 33)."""
    n_bins, act_bins, rewards = params.n_bins, batch.act_bins, batch.rewards
    rollouts_per_prompt = batch.rollouts_per_prompt
    counts = np.bincount(act_bins, minlength=n_bins)
    present = counts > 0
    share = counts / counts.sum()
    n_per_bin = bin_means(act_bins, rollouts_per_prompt.astype(float), n_bins)[0]
    in_bin = act_bins[batch.owner]
    reward_sd = np.array([rewards[in_bin == b].std() if present[b] else 0.0 for b in range(n_bins)])
    return curve_row(
        reward=float(rewards.mean()),
        loss=float(np.mean(step.losses)),
        kl=float(step.kl_token.mean()),
        adversary_signal=float(np.abs(prompt_losses).mean()),
        mean_rollouts=float(rollouts_per_prompt.mean()),
        min_rollouts=float(rollouts_per_prompt.min()),
        max_rollouts=float(rollouts_per_prompt.max()),
        mu=mu,
        wse=weighted_standard_error(share, reward_sd, np.where(present, n_per_bin, 1.0)),
        wse_uniform=weighted_standard_error(share, reward_sd, np.full(n_bins, float(params.mean_rollouts))),
        **_per_bin("share", share),
        **_per_bin("weight", bin_means(act_bins, weights, n_bins)[0]),
        **_per_bin("q", q_step),
        **_per_bin("rollouts", n_per_bin),
    )


def train_rl(policy, reference, data: TaskData, params: Params, rng, generator, rec) -> pd.DataFrame:
    """The RL loop; returns the per-(step, prompt) training log."""
    import torch

    players = Adversaries.build(params)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=params.rl_lr, weight_decay=params.weight_decay)
    previous_bins = np.zeros(params.prompts_per_step, dtype=np.int64)
    log = []
    for step in rec.progress(range(params.rl_steps), desc=f"{params.method} {params.model}"):
        batch = choose_prompts(data, params, rng, players, previous_bins)
        roll_out(policy, data, params, generator, players, batch)
        adv, weights, q_step = advantages(batch, params, players.prompt)
        old_logp, ref_logp = old_and_reference_logp(policy, reference, batch, params)
        stepped = update(
            policy, optimizer, batch, adv=adv, old_logp=old_logp, ref_logp=ref_logp, params=params, rng=rng
        )
        prompt_losses = update_adversaries(batch, stepped, params, players)
        previous_bins = batch.bins
        log.append(log_rows(step, batch, data, weights))
        if step % params.curve_every == 0 or step == params.rl_steps - 1:
            mu = players.rollout.mu if params.method == "rollout_gdro" else math.nan
            row = step_curve(
                batch, stepped, prompt_losses=prompt_losses, weights=weights, q_step=q_step, params=params, mu=mu
            )
            rec.log_curve(step, **row)
    return pd.concat(log, ignore_index=True)
