"""Collaborative baselines on the full ml-latest-small, under protocols A and B.

    python benchmarks/baselines.py              # both protocols, markdown tables and seconds per model
    python benchmarks/baselines.py --protocol A
    python benchmarks/baselines.py --tune       # the validation sweeps behind the default hyperparameters

Protocol A: per user, the latest 20% of ratings by time are test. Protocol B: per user, a
random 25% (seed 42), the Microsoft Recommenders MovieLens split. Every test user's ranking is
over all movies they did not rate in training; every test rating counts as relevant. BiasedMF
(rating prediction) is reported as RMSE/MAE on the same splits.

Data comes from ``$CINEFUSE_SHARED_DATA`` or ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from recommender.evaluation.metrics import mae, rmse
from recommender.evaluation.protocol import SplitProtocol, evaluate_model, run_baselines, split_protocol, to_markdown
from recommender.ranking.collaborative import ALSModel, BiasedMF, CollaborativeModel, EASEModel, ItemKNNModel
from recommender.ranking.interactions import Weighting
from recommender.ranking.splits import split_latest

DATA = Path(os.environ.get("CINEFUSE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
COLUMNS = ["ndcg@10", "recall@20", "map@10", "precision@10", "recall@10", "hit_rate@10",
           "coverage@10", "novelty@10", "serendipity@10"]


def load_ratings() -> pd.DataFrame:
    path = DATA / "ml-latest-small" / "ratings.csv"
    if not path.exists():
        sys.exit(f"ratings not found at {path}: set CINEFUSE_SHARED_DATA to the folder holding ml-latest-small/")
    return pd.read_csv(path).rename(columns={"userId": "user_id", "movieId": "movie_id"})


def rating_prediction(ratings: pd.DataFrame, protocol: SplitProtocol) -> pd.DataFrame:
    train, test = split_protocol(ratings, protocol)
    started = time.perf_counter()
    model = BiasedMF().fit(train)
    fit_seconds = time.perf_counter() - started
    pred = model.predict(test.user_id.to_numpy(), test.movie_id.to_numpy())
    frame = pd.DataFrame({"rmse": [rmse(test.rating, pred)], "mae": [mae(test.rating, pred)],
                          "fit_seconds": [fit_seconds]}, index=pd.Index(["BiasedMF"], name="model"))
    return frame


def tune(ratings: pd.DataFrame) -> None:
    """Sweeps on a validation split of protocol A's training part (its latest 20% per user)."""
    train, _ = split_latest(ratings, 0.2)
    fit, validation = split_latest(train, 0.2)
    runs: list[tuple[str, CollaborativeModel, Weighting, float]] = [
        (f"EASE l2={l2}", EASEModel(l2), "binary", 1.0) for l2 in (100, 200, 300, 500, 800)]
    weightings: tuple[Weighting, ...] = ("binary", "rating")
    runs += [(f"item-kNN k={k} shrinkage={s} {w}", ItemKNNModel(k, s), w, 1.0)
             for k, s, w in itertools.product((20, 50, 100), (0.0, 10.0), weightings)]
    runs += [(f"ALS factors={f} reg={r} alpha={a}", ALSModel(f, r), "confidence", a)
             for f, r, a in itertools.product((64, 128), (1.0, 10.0, 30.0), (0.0, 1.0, 4.0))]
    rows = {}
    for name, model, weighting, alpha in runs:
        result = evaluate_model(model, fit, validation, weighting=weighting, alpha=alpha)
        rows[name] = {c: result[c] for c in ("ndcg@10", "recall@20", "map@10", "fit_seconds")}
        print(f"{name:45s} ndcg@10 {result['ndcg@10']:.4f}", flush=True)
    print(to_markdown(pd.DataFrame.from_dict(rows, orient="index").rename_axis("validation run")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=["A", "B"], action="append")
    parser.add_argument("--tune", action="store_true", help="run the validation sweeps instead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ratings = load_ratings()
    if args.tune:
        tune(ratings)
        return
    for protocol in args.protocol or ["A", "B"]:
        started = time.perf_counter()
        results = run_baselines(ratings, protocol)
        elapsed = time.perf_counter() - started
        print(f"\n## Protocol {protocol} ({'latest 20% per user' if protocol == 'A' else 'random 25% per user'})\n")
        print(to_markdown(results[COLUMNS]))
        print("\nSeconds per model (fit on the training matrix; score = rank all unseen items for every test user):\n")
        print(to_markdown(results[["fit_seconds", "score_seconds", "users"]], float_format=".2f"))
        print(f"\nRating prediction, protocol {protocol}:\n")
        print(to_markdown(rating_prediction(ratings, protocol)))
        print(f"\n(protocol {protocol} total {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
