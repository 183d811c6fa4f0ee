"""Choose the ranker's design on validation splits nested inside each protocol's training data, never on its
test split: protocol A's latest 20% of each person's training ratings, protocol B's random 25% (seed 42).
Prints nDCG@10 and Recall@20 of the trained fusion per setting, with EASE and ALS on the same split as peers.

    python benchmarks/validation.py --store runs/index --data ../shared/data --folds 1 3
    python benchmarks/validation.py --protocols B --holdout 0.1 --seeds 42 43 --folds 3 --fold-share 0.25
    python benchmarks/validation.py --protocols B --holdout 0.1 --seeds 42 43   # the default: 4 folds of 10%
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="runs/index")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--protocols", nargs="+", default=["A", "B"], choices=["A", "B"])
    parser.add_argument("--folds", nargs="+", type=int, default=[0],
                        help="validation folds the ranker learns from (0: the protocol's default)")
    parser.add_argument("--fold-share", type=float, default=None,
                        help="share of ratings each ranker fold holds out (default: the protocol's)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42], help="protocol B: seeds of the validation split")
    parser.add_argument("--holdout", type=float, default=0.25,
                        help="protocol B: share of each person's training ratings the validation split holds out")
    args = parser.parse_args()

    from benchmarks.common import items_and_ratings
    from recommender.evaluate import BASELINES, evaluate_model, split_protocol
    from recommender.fusion import FusionModel
    from recommender.splits import split_latest, split_random

    items, ratings = items_and_ratings(args.store, args.data)

    rows = []
    runs = [(p, seed) for p in args.protocols for seed in (args.seeds if p == "B" else [42])]
    for protocol, seed in runs:
        train, _ = split_protocol(ratings, protocol)
        fit, validation = split_latest(train, 0.2) if protocol == "A" else split_random(train, args.holdout, seed=seed)
        label = protocol if protocol == "A" else f"B, {args.holdout:.0%} held out, seed {seed}"
        for name in ("EASE", "ALS"):
            t = time.perf_counter()
            factory, weighting = BASELINES[name]
            r = evaluate_model(factory(), fit, validation, weighting=weighting)
            rows.append((label, f"{name} (peer)", r["ndcg@10"], r["recall@20"], time.perf_counter() - t))
        for folds in args.folds:
            t = time.perf_counter()
            model = FusionModel(items, validation=protocol, folds=folds or None, validation_frac=args.fold_share)
            r = evaluate_model(model, fit, validation, weighting="confidence")
            name = f"fusion, {model.folds} fold{'s' * (model.folds > 1)} of {model.validation_frac:.0%}"
            rows.append((label, name, r["ndcg@10"], r["recall@20"],
                         time.perf_counter() - t))
            print(f"  {label} {rows[-1][1]}: nDCG@10 {r['ndcg@10']:.4f}", flush=True)
    print("\n| protocol (validation split) | model | nDCG@10 | Recall@20 | seconds |\n|---|---|---|---|---|")
    for protocol, name, ndcg, recall, seconds in rows:
        print(f"| {protocol} | {name} | {ndcg:.4f} | {recall:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
