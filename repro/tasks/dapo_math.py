"""Full-scale data for gdro_rlvr: DAPO-Math-17k-Processed (English) for training, MATH-500 and AIME 2024 for evaluation.

GDRO (arXiv 2601.19280v1 §5, App. A): "We use the DAPO 14.1k English dataset for all training runs"
(https://huggingface.co/datasets/open-r1/DAPO-Math-17k-Processed, config ``en``, columns ``prompt`` and
``solution``), reward r ∈ {−1, +1} from verifiable answer correctness (verl's ``math_dapo`` module).

Deviation, recorded in the claims: the paper's pass@8 pools seven benchmarks (AIME 2024/2025, AMC, MATH-500,
Minerva, OlympiadBench, GPQA); repro's full scale evaluates on two of them, as six difficulty tiers: MATH-500's
``level`` 1–5 (tiers 0–4) and AIME 2024 (tier 5).
The answer check is a simplified port of ``math_dapo``: the text after the last "Answer:" (or the last
``\\boxed{}``), normalised, compared as strings.

Only imported at full scale; the ``datasets`` downloads happen inside the ``load_*`` functions.
"""

from __future__ import annotations

import re

DAPO_DATASET = "open-r1/DAPO-Math-17k-Processed"
DAPO_CONFIG = "en"
MATH500_DATASET = "HuggingFaceH4/MATH-500"
AIME2024_DATASET = "HuggingFaceH4/aime_2024"

DAPO_TEMPLATE = (
    "Solve the following math problem step by step. The last line of your response should be of the form "
    "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n{problem}\n\n"
    'Remember to put your answer on its own line after "Answer:".'
)
"""DAPO-Math's prompt template (its training prompts already contain it; MATH-500 problems are wrapped in it)."""


def load_dapo_math() -> list[tuple[str, str]]:
    """(prompt, solution) pairs of DAPO-Math-17k-Processed, English config (≈14.1k prompts)."""
    from datasets import load_dataset

    ds = load_dataset(DAPO_DATASET, DAPO_CONFIG, split="train")
    return list(zip(ds["prompt"], ds["solution"], strict=True))


def load_eval_tiers() -> list[tuple[str, str, int]]:
    """(prompt, answer, tier) triples: MATH-500 (tier = level − 1, 0–4) and AIME 2024 (tier 5), prompts wrapped in
    the DAPO template."""
    from datasets import load_dataset

    math500 = load_dataset(MATH500_DATASET, split="test")
    aime = load_dataset(AIME2024_DATASET, split="train")
    return [
        (DAPO_TEMPLATE.format(problem=p), str(a), int(level) - 1)
        for p, a, level in zip(math500["problem"], math500["answer"], math500["level"], strict=True)
    ] + [(DAPO_TEMPLATE.format(problem=p), str(a), 5) for p, a in zip(aime["problem"], aime["answer"], strict=True)]


_BOXED = re.compile(r"\\boxed\{")


def _last_boxed(text: str) -> str | None:
    start = None
    for match in _BOXED.finditer(text):
        start = match.end()
    if start is None:
        return None
    depth = 1
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return None


def extract_answer(completion: str) -> str | None:
    """The text after the last "Answer:" (to the end of that line), else the last \\boxed{...}, else None."""
    matches = re.findall(r"Answer\s*:\s*(.+)", completion)
    if matches:
        return matches[-1].strip()
    return _last_boxed(completion)


def normalize_answer(answer: str) -> str:
    """Canonical form for comparison: unwrap \\boxed{}, drop $, \\left/\\right, spaces, degree and percent signs,
    \\text{...} wrappers and a trailing period."""
    boxed = _last_boxed(answer)
    text = boxed if boxed is not None else answer
    text = re.sub(r"\\text\{([^}]*)\}", r"\1", text)
    for token in ("$", "\\left", "\\right", "\\!", "^\\circ", "^{\\circ}", "\\%", "%", "\\,", "\\;", " "):
        text = text.replace(token, "")
    text = text.replace("dfrac", "frac").replace("tfrac", "frac")
    return text.rstrip(".").strip()


def is_correct(completion: str, solution: str) -> bool:
    """Verifiable correctness: the extracted, normalised answer equals the normalised reference."""
    answer = extract_answer(completion)
    return answer is not None and normalize_answer(answer) == normalize_answer(solution)
