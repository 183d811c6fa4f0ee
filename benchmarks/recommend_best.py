"""What "the best ..." does to a personal page: for MovieLens people (their own ratings as the history), the
page with ``steer="the best ones"`` against the page without, at each rating weight: the mean rating of the
top 10 (shrunk as :func:`index.search.shrunk_ratings` shrinks it; higher is what was asked) and how many of the
plain page's movies stay (the page is still theirs). The weight is chosen on odd user ids and reported on even ones.

    python benchmarks/recommend_best.py --store runs/index --people 120
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import recommender.api as api  # noqa: E402
from index.search import shrunk_ratings  # noqa: E402
from recommender.api import Recommender  # noqa: E402
from recommender.evaluation.metrics import paired_difference  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--store", default="runs/index")
    ap.add_argument("--people", type=int, default=120, help="MovieLens user ids 1..N")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    args = ap.parse_args(argv)
    rec = Recommender.open(args.store)
    shrunk = dict(zip(rec.payloads, shrunk_ratings(list(rec.payloads.values())), strict=True))
    rows: dict[str, list[tuple[float, float]]] = {}
    users = [u for u in range(1, args.people + 1) if rec.history_of(u)]
    for user in users:
        plain = [r.movie_id for r in rec.recommend(user_id=user, k=10, explore=False)]
        rows.setdefault("plain", []).append((float(np.mean([shrunk[m] for m in plain])), 1.0))
        for w in args.weights:
            api.BEST_WEIGHT = w
            best = [r.movie_id for r in rec.recommend(user_id=user, k=10, explore=False, steer="the best ones")]
            rows.setdefault(f"best, weight {w}", []).append((float(np.mean([shrunk[m] for m in best])),
                                                             len(set(best) & set(plain)) / 10))
    rec.close()
    odd = np.array([u % 2 == 1 for u in users])
    print(f"{len(users)} people ({int(odd.sum())} odd ids to choose on, {int((~odd).sum())} even ids to report)")
    print(f"{'page':<18} {'rating (odd)':>13} {'kept (odd)':>11} {'rating (even)':>14} {'kept (even)':>12}  "
          "rating minus plain, even ids")
    base = np.array(rows["plain"])
    for name, values in rows.items():
        v = np.array(values)
        line = (f"{name:<18} {v[odd, 0].mean():>13.3f} {v[odd, 1].mean():>11.2f} {v[~odd, 0].mean():>14.3f} "
                f"{v[~odd, 1].mean():>12.2f}")
        if name != "plain":
            d, lo, hi = paired_difference(v[~odd, 0], base[~odd, 0])
            line += f"  {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
