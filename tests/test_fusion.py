"""The fusion ranker's pure pieces and its candidate pool, on a small generated catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.fusion import FEATURES, MONOTONE, FusionModel, ItemTable, log_ranks
from recommender.interactions import Interactions


def test_log_ranks_skip_absent_and_excluded_movies() -> None:
    ranks = log_ranks(np.array([0.9, np.nan, 0.1, 0.5]), exclude=np.array([True, False, False, False]))
    assert np.isnan(ranks[[0, 1]]).all()
    assert ranks[3] == 0.0 and ranks[2] > ranks[3]


def test_collaborative_columns_are_monotone() -> None:
    assert MONOTONE[FEATURES.index("cf")] == 1 and MONOTONE[FEATURES.index("ease_rank")] == -1
    assert MONOTONE[FEATURES.index("overview")] == 0


def test_trained_fusion_scores_unrated_movies_by_content() -> None:
    rng = np.random.default_rng(0)
    n_movies, n_users = 60, 80
    group = np.arange(n_movies) % 3
    vectors = {m: {"overview": np.eye(3, dtype=np.float32)[group[m]] + 0.05 * rng.random(3, dtype=np.float32)}
               for m in range(n_movies)}
    items = ItemTable.from_payloads({m: {"genres": [f"g{group[m]}"], "year": 2000} for m in range(n_movies)}, vectors)
    rows = [(u, m, 5.0, float(t)) for u in range(n_users) for t, m in enumerate(rng.permutation(
        np.flatnonzero(group[:50] == u % 3))[:12])]
    ratings = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    model = FusionModel(items, ranker="gbdt", candidates=10)
    model.fit_frame(ratings, Interactions.from_ratings(ratings, item_ids=np.arange(n_movies)))
    scores = model.score_history(model._histories[0])
    unrated = np.arange(50, n_movies)
    assert np.isfinite(scores[unrated]).any()  # movies nobody rated still reach the pool
    best_unrated = unrated[np.argmax(scores[unrated])]
    assert group[best_unrated] == 0
