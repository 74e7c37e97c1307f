"""GRPO training step: repro's (repro.methods.grpo + repro.methods.sampling) against TRL's GRPOTrainer, in one process,
on the same tiny model (gdro_rlvr's Qwen3 stand-in for 4B, saved locally so TRL can load it and its β > 0 reference),
the same batch (prompts × generations), generation length and hyperparameters. Also rollout tokens per second.

Equal work per step, for both: generate G completions for each of P prompts (temperature 1, up to the task's
answer length, stopping at EOS), score them (exact match, ±1), group-normalised advantages, reference-model
log-probabilities (β_KL > 0), one forward/backward of the clipped-surrogate loss with the k3 KL term, gradient
clipping at 1.0 and one Adam step (TRL's default num_iterations = 1, steps_per_generation = 1).

    python benchmarks/grpo_vs_trl.py [--steps 10] [--prompts 32] [--generations 4] [--threads 1]

Timing is per training step (median over ``--steps`` after ``--warmup`` steps); the ratio is TRL's median over
ours. Both run in the same process, alternating ours / TRL / ours, so machine load affects both; the report
records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def task_and_model(prompts: int, seed: int, model_dir: Path):
    """The chain-sums pool and the tiny Qwen3 (saved to ``model_dir`` with a word-level tokenizer)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from repro.families.gdro_rlvr.data import chain_sum_data
    from repro.families.gdro_rlvr.experiment import Params
    from repro.families.gdro_rlvr.policy import build_policy
    from repro.tasks import chain_sums as cs

    torch.manual_seed(seed)
    params = Params(method="grpo", model="qwen3-4b")
    policy, _ = build_policy(params)
    data = chain_sum_data(params, np.random.default_rng(seed))
    vocab = {cs.TOKEN_TEXT[i] or "<pad>": i for i in range(cs.VOCAB_SIZE)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="$", pad_token="<pad>")
    policy.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return params, data, tokenizer


def sample_task(policy, ids, mask, data, generator):
    """repro.methods.sampling.sample with the task's length limit and special tokens (temperature 1, no filter)."""
    from repro.methods.sampling import sample

    return sample(
        policy,
        ids,
        mask,
        max_new_tokens=data.max_new_tokens,
        eos_id=data.eos_id,
        pad_id=data.pad_id,
        generator=generator,
    )


def ours(model_dir: Path, data, params, args) -> list[float]:
    """Seconds per GRPO step with repro's pieces."""
    import torch
    from transformers import AutoModelForCausalLM

    from repro.methods.grpo import group_advantages, grpo_loss
    from repro.methods.sampling import token_logprobs

    policy = AutoModelForCausalLM.from_pretrained(model_dir)
    reference = AutoModelForCausalLM.from_pretrained(model_dir).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.lr)
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(args.warmup + args.steps):
        start = time.perf_counter()
        chosen = np.repeat(rng.choice(len(data.pool), size=args.prompts, replace=False), args.generations)
        ids, mask = data.pool.ids[chosen], data.pool.mask[chosen]
        policy.eval()
        rollouts = sample_task(policy, ids, mask, data, generator)
        correct = data.pool.verify(chosen, rollouts.completion_ids)
        rewards = torch.as_tensor(np.where(correct, 1.0, -1.0)).view(args.prompts, args.generations)
        adv = group_advantages(rewards, std="sample", eps=1e-4).reshape(-1).float()
        with torch.no_grad():
            ref = token_logprobs(reference, ids, mask, rollouts.completion_ids, rollouts.completion_mask)
        policy.train()
        logp = token_logprobs(policy, ids, mask, rollouts.completion_ids, rollouts.completion_mask)
        loss, _ = grpo_loss(
            logp,
            old_logp=rollouts.logprobs,
            ref_logp=ref,
            advantages=adv,
            mask=rollouts.completion_mask,
            eps_low=0.2,
            eps_high=0.28,
            beta_kl=args.beta,
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times[args.warmup :]


def trl(model_dir: Path, data, tokenizer, args) -> list[float]:
    """Seconds per GRPOTrainer step (callback timestamps around each optimizer step, generation included)."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from repro.tasks import chain_sums as cs

    prompts = [" ".join(t for t in text) for text in cs.to_text(data.pool.ids.numpy())]
    answers = [" ".join(t for t in text) for text in cs.to_text(cs.answer_tokens(data.pool.ids.numpy()[:, :-1]))]

    def exact_match(completions, answer, **kwargs):
        return [1.0 if c.split() == a.split() else -1.0 for c, a in zip(completions, answer, strict=True)]

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self._start = [], None

        def on_step_begin(self, *a, **kw):
            self._start = time.perf_counter()

        def on_step_end(self, *a, **kw):
            self.times.append(time.perf_counter() - self._start)

    timer = StepTimer()
    config = GRPOConfig(
        output_dir=str(model_dir / "trl"),
        beta=args.beta,
        epsilon=0.2,
        epsilon_high=0.28,
        num_generations=args.generations,
        per_device_train_batch_size=args.prompts * args.generations,
        max_completion_length=data.max_new_tokens,
        temperature=1.0,
        learning_rate=args.lr,
        max_steps=args.warmup + args.steps,
        loss_type="grpo",
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=10**6,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=str(model_dir),
        reward_funcs=[exact_match],
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts, "answer": answers}),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    return timer.times[args.warmup :]


def rollout_throughput(model_dir: Path, data, batches: list[int]) -> dict[str, float]:
    """Generated tokens per second of repro.methods.sampling.sample at the given batch sizes."""
    import torch
    from transformers import AutoModelForCausalLM

    policy = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    generator = torch.Generator().manual_seed(1)
    out = {}
    for batch in batches:
        idx = np.resize(np.arange(len(data.pool)), batch)
        ids, mask = data.pool.ids[idx], data.pool.mask[idx]
        tokens, seconds = 0, 0.0
        for repeat in range(4):  # the first call warms up and is not counted
            start = time.perf_counter()
            r = sample_task(policy, ids, mask, data, generator)
            if repeat:
                seconds += time.perf_counter() - start
                tokens += int(r.completion_mask.sum())
        out[f"batch_{batch}"] = round(tokens / seconds, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--beta", type=float, default=0.001)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "grpo_vs_trl.json"))
    args = parser.parse_args()

    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "tiny-qwen3"
        params, data, tokenizer = task_and_model(args.prompts, 0, model_dir)
        ours_a = ours(model_dir, data, params, args)
        theirs = trl(model_dir, data, tokenizer, args)
        ours_b = ours(model_dir, data, params, args)
        throughput = rollout_throughput(model_dir, data, [args.prompts * args.generations, 1024])
    ours_all = ours_a + ours_b
    report = {
        "model": "gdro_rlvr tiny Qwen3 (qwen3-4b stand-in: hidden 48, 2 layers)",
        "batch": f"{args.prompts} prompts × {args.generations} generations",
        "max_completion_length": data.max_new_tokens,
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "ours_step_s_median": round(statistics.median(ours_all), 4),
        "trl_step_s_median": round(statistics.median(theirs), 4),
        "ratio_trl_over_ours": round(statistics.median(theirs) / statistics.median(ours_all), 2),
        "ours_step_s": [round(t, 4) for t in ours_all],
        "trl_step_s": [round(t, 4) for t in theirs],
        "rollout_tokens_per_s": throughput,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
