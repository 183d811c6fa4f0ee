"""Choose the recency half-life by evaluation: the trained fusion on protocol A's *validation* split (the latest
20% of each person's training ratings), never on the test split. Prints nDCG@10 and Recall@20 per half-life,
with EASE on the same split as the peer.

    python benchmarks/halflife.py --store runs/index --data ../shared/data 90 180 365 730 100000
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
    parser.add_argument("days", nargs="*", type=float, default=[90, 180, 365, 730, 100_000])
    parser.add_argument("--store", default="runs/index")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()

    from benchmarks.common import items_and_ratings
    from recommender.evaluation.protocol import BASELINES, evaluate_model, split_protocol
    from recommender.ranking.fusion import FusionModel
    from recommender.ranking.splits import split_latest

    items, ratings = items_and_ratings(args.store, args.data)
    train, _ = split_protocol(ratings, "A")
    fit, validation = split_latest(train, 0.2)

    rows = []
    t = time.perf_counter()
    factory, weighting = BASELINES["EASE"]
    peer = evaluate_model(factory(), fit, validation, weighting=weighting)
    rows.append(("EASE (peer)", peer["ndcg@10"], peer["recall@20"], time.perf_counter() - t))
    for days in args.days:
        t = time.perf_counter()
        r = evaluate_model(FusionModel(items, half_life_days=days, validation="A"), fit, validation,
                           weighting="confidence")
        rows.append((f"fusion, half-life {days:g} days", r["ndcg@10"], r["recall@20"], time.perf_counter() - t))
        print(f"  {rows[-1][0]}: nDCG@10 {r['ndcg@10']:.4f}", flush=True)
    print("\n| model (protocol A, validation split) | nDCG@10 | Recall@20 | seconds |\n|---|---|---|---|")
    for name, ndcg, recall, seconds in rows:
        print(f"| {name} | {ndcg:.4f} | {recall:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
