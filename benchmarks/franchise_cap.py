"""The franchise cap of a personal page: what it costs and what it frees.

A page may show at most ``franchise_cap`` films of one franchise before every other candidate has had its turn
(``Recommender.recommend(franchise_cap=...)``). Harry Potter and the Sorcerer's Stone alone gave six Harry Potter
films and three of The Lord of the Rings: the person knows the sequels exist, and the slots they take could show
them something they would not have found. The users are MovieLens people the index never saw, as in
``benchmarks/exploration.py`` (whose data split and build this reuses): protocol C's held-out 20% (seed 42), or with
``--validation`` 20% of C's training people (seed 7), the split the cap is chosen on. Each person names
``--likes`` of their liked films (undated, as the chat hears them), and gets the chat's page (10 cards, diversity
0.85, the exploration card last) under each cap.

Per page: nDCG@10 against the rest of the person's ratings, how many cards they rated 4 or more (liked), how many
films of one franchise beyond two it shows (crowding), and over all pages how many different films were shown.

    python benchmarks/franchise_cap.py --data ../shared/data --work runs/exploration-val --validation
    python benchmarks/franchise_cap.py --data ../shared/data --work runs/exploration --likes 1
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

CAPS = (0, 1, 2, 3)


def crowding(collections: list[str | None], allowed: int = 2) -> int:
    """How many cards are films of one franchise beyond the ``allowed`` first.

    Example:
        >>> crowding(["HP", "HP", "HP", None, "LOTR", "HP"])
        2
    """
    return sum(max(0, c - allowed) for c in Counter(x for x in collections if x).values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--work", default="runs/exploration", help="where the data copy and its index go (reused)")
    ap.add_argument("--validation", action="store_true", help="hold out 20%% of C's training people (seed 7)")
    ap.add_argument("--likes", type=int, nargs="+", default=[1, 3, 5], help="liked films revealed per person")
    args = ap.parse_args(argv)

    from app.cli import main as cli
    from benchmarks.exploration import without_people
    from recommender.api import Recommender
    from recommender.evaluation.metrics import ndcg_at_k, paired_difference
    from recommender.ranking.profile import Interaction

    work = Path(args.work)
    held_file, store = work / "held.csv", work / "index"
    if not held_file.exists():
        work.mkdir(parents=True, exist_ok=True)
        without_people(Path(args.data), work / "data", args.validation).to_csv(held_file, index=False)
    if not (store / "ranker.pkl").exists():
        cli(["build", "--data", str(work / "data"), "--store", str(store), "-q"])
    held = pd.read_csv(held_file)
    rec = Recommender.open(str(store))
    print(f"{'validation: 20% of C’s training people' if args.validation else 'C’s test people'}; the chat's page "
          "(10 cards, diversity 0.85, exploration last) under each franchise cap (0: none)")
    print(f"{'likes':>5} {'cap':>4} {'people':>6} {'nDCG@10':>8} {'liked':>6} {'crowded':>8} {'distinct':>9}  "
          "minus no cap: nDCG@10, liked cards (95% interval)")
    for likes in args.likes:
        rng = np.random.default_rng(likes)
        ndcg: dict[int, list[float]] = {c: [] for c in CAPS}
        liked_cards: dict[int, list[float]] = {c: [] for c in CAPS}
        crowded: dict[int, list[int]] = {c: [] for c in CAPS}
        shown: dict[int, set[int]] = {c: set() for c in CAPS}
        for _, person in held.groupby("userId", sort=True):
            liked = [int(m) for m in person.loc[person["rating"] >= 4, "movieId"] if int(m) in rec.payloads]
            if len(liked) < 10:  # protocol C's people: ten likes, so a few are left to find
                continue
            history = [Interaction(int(m), liked=True) for m in rng.choice(liked, likes, replace=False)]
            rest = {int(m): r for m, r in zip(person["movieId"], person["rating"], strict=True)}
            for h in history:
                rest.pop(h.movie_id, None)
            for cap in CAPS:
                page = [r.movie_id for r in rec.recommend(history, k=10, diversity=0.85, franchise_cap=cap)]
                ndcg[cap].append(float(ndcg_at_k([page], [set(rest)], 10).per_user[0]))
                liked_cards[cap].append(float(sum(rest.get(m, 0) >= 4 for m in page)))
                crowded[cap].append(crowding([rec.payloads[m].get("collection") or None for m in page]))
                shown[cap].update(page)
        for cap in CAPS:
            line = (f"{likes:>5} {cap:>4} {len(ndcg[cap]):>6} {np.mean(ndcg[cap]):>8.4f} "
                    f"{np.mean(liked_cards[cap]):>6.3f} {np.sum(crowded[cap]):>8} {len(shown[cap]):>9}")
            if cap:
                line += "  {:+.4f} [{:+.4f}, {:+.4f}], {:+.3f} [{:+.3f}, {:+.3f}]".format(
                    *paired_difference(np.array(ndcg[cap]), np.array(ndcg[0])),
                    *paired_difference(np.array(liked_cards[cap]), np.array(liked_cards[0])))
            print(line, flush=True)
    rec.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
