"""Why textual grounding keeps its own light stemmer: scores of every shipped textual claim under it and under
Snowball (the maintained English stemmer, ``pip install snowballstemmer``), and the time to tokenise the cached
papers with each, as a ratio measured in the same process.

    python benchmarks/stemmer_grounding.py [--claims claims] [--papers papers]

A claim whose status (grounded / partial / absent) differs between the two is a verdict the stemmer alone would
change; the thresholds in repro/grounding.py were set, and are tested, for the light stemmer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from repro import grounding
from repro.claims import TextualClaim, load_claims

ROOT = Path(__file__).resolve().parents[1]


def _snowball():
    try:
        import snowballstemmer
    except ImportError:
        sys.exit("this benchmark compares against Snowball: pip install snowballstemmer")
    english = snowballstemmer.stemmer("english")
    return lambda word: word if grounding._NUMBER.match(word) else english.stemWord(word)


def _score_all(claims, papers: Path) -> dict[str, tuple[float, str]]:
    out = {}
    for loaded in claims:
        evidence = grounding.ground_claim(loaded.claim.quote, loaded.claim.paper.arxiv, papers)
        out[loaded.id] = (evidence.get("score", float("nan")), evidence.get("status", "not cached"))
    return out


def _tokenize_seconds(texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        grounding.tokenize(text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=Path, default=ROOT / "claims")
    parser.add_argument("--papers", type=Path, default=ROOT / "papers")
    args = parser.parse_args()
    snowball = _snowball()
    claims = [c for c in load_claims(args.claims, ROOT) if isinstance(c.claim, TextualClaim)]
    texts = [p.read_text(encoding="utf-8") for p in sorted(args.papers.glob("*/v*/*")) if p.suffix in (".md", ".txt")]
    light, light_s = _score_all(claims, args.papers), _tokenize_seconds(texts)
    original = grounding.stem
    grounding.stem = snowball
    try:
        snow, snow_s = _score_all(claims, args.papers), _tokenize_seconds(texts)
    finally:
        grounding.stem = original
    flips = 0
    print(f"{'claim':48} {'light':>7} {'snowball':>9}  status (light -> snowball)")
    for claim_id in sorted(light):
        (a, sa), (b, sb) = light[claim_id], snow[claim_id]
        flips += sa != sb
        mark = "  <- changes" if sa != sb else ""
        print(f"{claim_id:48} {a:7.4f} {b:9.4f}  {sa} -> {sb}{mark}")
    print(f"{len(light)} textual claims; {flips} change status under Snowball")
    print(f"tokenising {len(texts)} cached texts: Snowball / light = {snow_s / light_s:.2f}")


if __name__ == "__main__":
    main()
