"""Choose the ranker's design on validation splits nested inside each protocol's training data, never on its
test split: protocol A's latest 20% of each person's training ratings, protocol B's random 25% (seed 42).
Prints nDCG@10 and Recall@20 of the trained fusion per setting, with EASE and ALS on the same split as peers.

    python benchmarks/validation.py --store runs/index --data ../shared/data --folds 1 3
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
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
    args = parser.parse_args()

    from index.catalog import find_movielens_dir
    from index.sources import load_movielens
    from index.store import open_store
    from recommender.evaluate import BASELINES, evaluate_model, split_protocol
    from recommender.fusion import FusionModel, ItemTable
    from recommender.splits import split_latest, split_random

    work = Path(tempfile.mkdtemp(prefix="cinefuse-validation-"))
    shutil.copytree(args.store, work / "index")  # the store's lock stays free for other work
    store = open_store(str(work / "index"))
    try:
        items = ItemTable.from_store(store)
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    ratings = load_movielens(find_movielens_dir(args.data)).ratings

    rows = []
    for protocol in args.protocols:
        train, _ = split_protocol(ratings, protocol)
        fit, validation = split_latest(train, 0.2) if protocol == "A" else split_random(train, 0.25, seed=42)
        for name in ("EASE", "ALS"):
            t = time.perf_counter()
            factory, weighting = BASELINES[name]
            r = evaluate_model(factory(), fit, validation, weighting=weighting)
            rows.append((protocol, f"{name} (peer)", r["ndcg@10"], r["recall@20"], time.perf_counter() - t))
        for folds in args.folds:
            t = time.perf_counter()
            model = FusionModel(items, validation=protocol, folds=folds or None)
            r = evaluate_model(model, fit, validation, weighting="confidence")
            rows.append((protocol, f"fusion, {model.folds} fold{'s' * (model.folds > 1)}", r["ndcg@10"], r["recall@20"],
                         time.perf_counter() - t))
            print(f"  {protocol} {rows[-1][1]}: nDCG@10 {r['ndcg@10']:.4f}", flush=True)
    print("\n| protocol (validation split) | model | nDCG@10 | Recall@20 | seconds |\n|---|---|---|---|---|")
    for protocol, name, ndcg, recall, seconds in rows:
        print(f"| {protocol} | {name} | {ndcg:.4f} | {recall:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
