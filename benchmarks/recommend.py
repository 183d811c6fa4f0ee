"""Latency of one top-10 recommendation for a new person (fold-in, Qdrant candidates, ranker; no explanation)
on the embedded store, side by side with implicit's own new-user path (recalculate_user + recommend).

    python benchmarks/recommend.py --store runs/index [--requests 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.api import Recommender  # noqa: E402
from recommender.ranking.collaborative import single_threaded_blas  # noqa: E402
from recommender.ranking.profile import Interaction  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def _timed(rec: Recommender, histories: list[list[Interaction]]) -> list[float]:
    for h in histories[:5]:
        rec.recommend(h, k=10)  # warm up
    out = []
    for h in histories:
        start = time.perf_counter()
        rec.recommend(h, k=10)
        out.append(time.perf_counter() - start)
    return out


def measure(rec: Recommender, requests: int = 200, history: int = 20, seed: int = 0
            ) -> tuple[list[float], list[float], list[float], list[float]]:
    """Seconds per top-10 recommendation for ``requests`` new people (real people's ratings replayed as new
    histories of ``history`` ratings), through cinefuse with the ratings' dates (from five ratings the ranker that
    reads the era and the one that does not rank half each), the same with the era's ranker alone, cinefuse without
    the dates (as the chat's likes come: two rankers) and through implicit's recalculate_user path."""
    rng = np.random.default_rng(seed)
    users = rng.choice(sorted(rec.model.histories), size=requests)
    histories = []
    for u in users:  # real people's ratings, replayed as brand-new histories
        h = rec.model.histories[int(u)]
        take = rng.permutation(len(h.movie_ids))[:history]
        histories.append([Interaction(int(h.movie_ids[i]), rating=float(h.ratings[i]), timestamp=float(h.timestamps[i]))
                          for i in take])
    ours = _timed(rec, histories)
    shares = rec.model.dated_dateless
    rec.model.dated_dateless = (0, 0.0)
    try:
        era_alone = _timed(rec, histories)
    finally:
        rec.model.dated_dateless = shares
    undated = _timed(rec, [[replace(i, timestamp=None) for i in h] for h in histories])

    als = rec.model.als
    assert als is not None and rec.model.inter is not None
    implicit_model = als._fitted_model()
    peer = []
    with single_threaded_blas():
        for likes in histories:
            row = rec.model.inter.history_row([i.movie_id for i in likes], [i.rating or 5.0 for i in likes])
            start = time.perf_counter()
            implicit_model.recommend(0, row, N=10, recalculate_user=True, filter_already_liked_items=True)
            peer.append(time.perf_counter() - start)
    return ours, era_alone, undated, peer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--store", default="runs/index")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--history", type=int, default=20, help="ratings per simulated person")
    args = ap.parse_args()

    with Recommender.open(args.store) as rec:
        ours, era_alone, undated, peer = measure(rec, args.requests, args.history)

    print(f"\n## One top-10 recommendation, {args.requests} new people with {args.history} ratings each\n")
    print("| system | p50 ms | p95 ms |\n|---|---|---|")
    for name, samples in (("cinefuse (fold-in, a Qdrant Edge query per signal, two LightGBM rankers)", ours),
                          ("cinefuse, the era's ranker alone (as before DATED_DATELESS)", era_alone),
                          ("cinefuse, the same ratings without dates (two rankers)", undated),
                          ("implicit ALS recommend(recalculate_user=True)", peer)):
        p50, p95 = percentiles(samples)
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
