"""The fusion ranker's pure pieces and its candidate pool, on a small generated catalog."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from recommender.ranking.fusion import (
    FEATURES,
    MONOTONE,
    RANKED,
    FusionModel,
    History,
    ItemTable,
    log_ranks,
    log_ranks_at,
)
from recommender.ranking.interactions import Interactions


def test_log_ranks_skip_absent_and_excluded_movies() -> None:
    ranks = log_ranks(np.array([0.9, np.nan, 0.1, 0.5]), exclude=np.array([True, False, False, False]))
    assert np.isnan(ranks[[0, 1]]).all()
    assert ranks[3] == 0.0 and ranks[2] > ranks[3]


def test_ranks_of_some_rows_equal_ranks_of_all() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 40, 500).astype(np.float32)  # many ties
    scores[rng.choice(500, 60, replace=False)] = np.nan
    exclude = rng.random(500) < 0.1
    rows = np.sort(rng.choice(500, 80, replace=False))
    np.testing.assert_array_equal(log_ranks_at(scores, rows, exclude), log_ranks(scores, exclude)[rows])
    assert np.isnan(log_ranks_at(np.full(3, np.nan, np.float32), np.arange(3))).all()


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
    scores = model.score_history(model.histories[0])
    for user in (0, 1, 2):  # the request path ranks only the candidates: the same features, the same scores
        history = model.histories[user]
        full = model.features(history)
        lazy = model.features(history, ranks=False)
        cand = model.candidate_columns(lazy, history)
        model.add_ranks(lazy, cand, history)
        np.testing.assert_array_equal(lazy[cand], full[cand])
        assert np.isnan(lazy[:, [FEATURES.index(r) for r in RANKED.values()]]).sum() > 0
        np.testing.assert_array_equal(model.rank_columns(lazy, cand), model.rank_columns(full, cand))
    unrated = np.arange(50, n_movies)
    assert np.isfinite(scores[unrated]).any()  # movies nobody rated still reach the pool
    best_unrated = unrated[np.argmax(scores[unrated])]
    assert group[best_unrated] == 0


def test_equal_scores_share_their_best_rank() -> None:
    ranks = log_ranks(np.array([0.0, 0.7, 0.0, 0.0, 0.2]))
    assert ranks[0] == ranks[2] == ranks[3] == np.float32(np.log1p(2))
    assert ranks[1] == 0.0 and ranks[4] == np.float32(np.log1p(1))


def _ratings(n_users: int = 12, per_user: int = 20) -> pd.DataFrame:
    rows = [(u, (u + i) % 30, 4.0, float(1000 * u + i)) for u in range(n_users) for i in range(per_user)]
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


def test_protocol_a_folds_are_successive_windows() -> None:
    ratings = _ratings()
    items = ItemTable.from_payloads({m: {"genres": ["g"]} for m in range(30)}, {})
    model = FusionModel(items, validation="A", folds=3, ease_l2=None, few_shot_folds=0)
    folds = [(f.past, f.future, f.seed) for f in model._validation_folds(ratings, np.arange(30))]
    assert len(folds) == 3 and len(folds[0][0]) + len(folds[0][1]) == len(ratings)
    for (past, future, _), (older_past, older_future, _) in pairwise(folds):
        assert set(older_past.index) | set(older_future.index) == set(past.index)  # the next window is inside past
        latest_older = older_future.groupby("user_id")["timestamp"].max()
        assert (latest_older < future.groupby("user_id")["timestamp"].min().loc[latest_older.index]).all()


def test_protocol_b_folds_draw_different_random_splits() -> None:
    ratings = _ratings()
    items = ItemTable.from_payloads({m: {"genres": ["g"]} for m in range(30)}, {})
    model = FusionModel(items, validation="B", folds=2, ease_l2=None, few_shot_folds=0)
    (past1, future1, seed1), (past2, future2, seed2) = [(f.past, f.future, f.seed)
                                                        for f in model._validation_folds(ratings, np.arange(30))]
    assert (seed1, seed2) == (42, 43)
    assert len(future1) == len(future2) == len(ratings) // 10  # B holds out a tenth per fold
    assert set(future1.index) != set(future2.index)
    assert set(past1.index) | set(future1.index) == set(ratings.index)


def _two_era_ratings() -> tuple[ItemTable, pd.DataFrame]:
    """Three genres, 120 people in four eras three years apart, each rating ten films of one genre."""
    from recommender.ranking.era import SECONDS_PER_YEAR

    rng = np.random.default_rng(3)
    n_movies, n_users = 60, 120
    group = np.arange(n_movies) % 3
    items = ItemTable.from_payloads({m: {"genres": [f"g{group[m]}"], "year": 1990 + m % 20} for m in range(n_movies)},
                                    {})
    rows = [(u, m, 5.0, (u % 4) * 3 * SECONDS_PER_YEAR + t) for u in range(n_users) for t, m in
            enumerate(rng.permutation(np.flatnonzero(group == u % 3))[:10])]
    return items, pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


def _pages_follow_the_era(model: FusionModel, ratings: pd.DataFrame, shown: list) -> list[bool]:
    """Whether each history's page changes when every other movie's ratings move to 1970 (a new era)."""
    from recommender.ranking.era import EraCounts

    before = [model.score_history(h) for h in shown]
    late = ratings.assign(timestamp=ratings["timestamp"] * (ratings["movie_id"] % 2 == 0))
    model._era = EraCounts.from_frame(late, model.inter.item_index, model.inter.n_items)
    return [not np.array_equal(b, model.score_history(h)) for b, h in zip(before, shown, strict=True)]


def test_a_history_without_dates_is_ranked_without_the_era() -> None:
    """Its era is unknown, so the ranker for undated histories reads no era feature: moving every rating's date
    leaves its page as it was, where it moves a dated history's and the single ranker's."""
    from dataclasses import replace

    items, ratings = _two_era_ratings()
    inter = Interactions.from_ratings(ratings, item_ids=np.arange(60))
    pages = {}
    for own in (True, False):
        model = FusionModel(items, candidates=10, dateless_weight=float(own), content_map=None,
                            dated_dateless=(5, 0.5) if own else (0, 0.0))
        model.fit_frame(ratings, inter)
        assert (model.dateless_model is not None) == own
        dated = model.histories[5]
        undated = replace(dated, timestamps=np.full(len(dated.timestamps), np.nan))
        pages[own] = _pages_follow_the_era(model, ratings, [dated, undated])
    assert pages[True] == [True, False]  # the dated page follows the era, the undated one does not
    assert pages[False] == [True, True]


def test_a_dated_history_of_five_films_is_ranked_by_the_dateless_ranker_too() -> None:
    """At DATED_DATELESS's size the dateless ranker takes its share of a dated history: with all of it the page no
    longer follows the era, where a history of fewer films still does."""
    items, ratings = _two_era_ratings()
    model = FusionModel(items, candidates=10, content_map=None, dated_dateless=(5, 1.0))
    model.fit_frame(ratings, Interactions.from_ratings(ratings, item_ids=np.arange(60)))
    ten = model.histories[5]
    three = History(ten.movie_ids[:3], ten.ratings[:3], ten.timestamps[:3])
    assert (model._dated_share(ten), model._dated_share(three)) == (1.0, 0.0)
    assert _pages_follow_the_era(model, ratings, [ten, three]) == [False, True]
