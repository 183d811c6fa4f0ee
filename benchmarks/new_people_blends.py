"""How much the trained fusion adds, for new people, over the two signals that carry it: the popularity of a movie
around the history's date (the era) and the ALS fold-in of the history, alone and as weighted sums of their
log-ranks. Protocol C's nested validation (20% of C's training people held out, seed 7, ``--folds`` disjoint
hold-outs pooled: the people and reveals of ``benchmarks/validation.py --protocols C --people-folds K``), nDCG@10 at
n = 1, 3, 5, 10, each row's paired difference from the fusion's.

The blends' weights are few and read off these people, so the best blend is slightly flattered; a fusion that is
not clearly above it learns nothing the two signals do not already give.

    python benchmarks/new_people_blends.py --store runs/index --data ../shared/data --folds 4
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.ranking.fusion import FusionModel, History, ItemTable, log_ranks  # noqa: E402
from recommender.ranking.interactions import Interactions  # noqa: E402

WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0)


class EraALSBlend(FusionModel):
    """Ranks by ``log-rank(era popularity) + als * log-rank(ALS fold-in)`` (``als=None``: ALS alone), on the fusion's
    own base models; no ranker is trained."""

    def __init__(self, items: ItemTable, als: float | None) -> None:
        super().__init__(items, ease_l2=None, content_map=None)
        self.weight = als

    def fit_frame(self, train_df: pd.DataFrame, inter: Interactions) -> None:
        self._fit_base(train_df, inter.item_ids)

    def score_history(self, history: History) -> np.ndarray:
        seen = self._seen_mask(history)
        user = self.user_vector(history)
        cf = self._item_vectors @ user if user is not None else np.zeros(len(seen), np.float32)
        if self.weight is None:
            return np.where(seen, -np.inf, cf).astype(np.float32)
        era = self._era.popularity(self._era.when(history.timestamps))
        score = -(log_ranks(era, exclude=seen) + self.weight * log_ranks(cf, exclude=seen))
        return np.where(seen, -np.inf, score).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="runs/index")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--folds", type=int, default=4, help="disjoint hold-outs of C's training people, pooled")
    args = parser.parse_args()

    from benchmarks.common import items_and_ratings
    from index.catalog import find_movielens_dir
    from index.sources import load_movielens
    from recommender.evaluation.experiments import evaluate_new_people
    from recommender.evaluation.metrics import paired_difference
    from recommender.ranking.splits import split_new_people

    items, ratings = items_and_ratings(args.store, args.data)
    tags = load_movielens(find_movielens_dir(args.data)).tags
    train, held = split_new_people(ratings, 0.2, seed=42)
    outer = tags[~tags["user_id"].isin(held["user_id"].unique())]

    def blend(weight: float | None) -> Callable[[ItemTable], FusionModel]:
        return lambda it: EraALSBlend(it, weight)

    designs: dict[str, Callable[[ItemTable], FusionModel]] = {
        "fusion": lambda it: FusionModel(it, validation="A"), "ALS alone": blend(None),
        **{("era alone" if w == 0 else f"era + {w} x ALS"): blend(w) for w in WEIGHTS}}
    frame = evaluate_new_people(train, items, seed=7, tags=outer, folds=args.folds, designs=designs)
    print("\n| n | design | nDCG@10 | minus the fusion |\n|---|---|---|---|")
    for n, per_user in frame.attrs["per_user"].items():
        fusion = per_user["fusion"]
        for name in designs:
            gap = "" if name == "fusion" else "{:+.4f} [{:+.4f}, {:+.4f}]".format(
                *paired_difference(per_user[name], fusion))
            print(f"| {n} | {name} ({len(fusion)} people) | {np.nanmean(per_user[name]):.4f} | {gap} |")


if __name__ == "__main__":
    main()
