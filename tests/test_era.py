"""The era features: what was rated around a history's date, and each movie's age then."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.evaluation.metrics import ndcg_at_k
from recommender.ranking.era import SECONDS_PER_YEAR, EraCounts
from recommender.ranking.fusion import COLD_FEATURES, ERA_COLUMNS, FEATURES, FusionModel, ItemTable
from recommender.ranking.interactions import Interactions
from recommender.ranking.splits import reveal_liked, split_new_people
from recommender.ranking.tables import History

YEAR = SECONDS_PER_YEAR


def _two_eras() -> pd.DataFrame:
    """Movie 0 was rated by everyone in 2000, movie 1 by more people in 2010 (more ratings overall)."""
    rows = [(u, 0, 4.0, 30 * YEAR) for u in range(20)] + [(u, 1, 4.0, 40 * YEAR) for u in range(20, 50)]
    rows += [(u, 2, 4.0, (30 if u < 20 else 40) * YEAR) for u in range(50)]
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


def test_era_popularity_follows_the_history_date() -> None:
    frame = _two_eras()
    era = EraCounts.from_frame(frame, {0: 0, 1: 1, 2: 2}, 3)
    in_2000, in_2010 = era.popularity(30.0), era.popularity(40.0)
    assert in_2000[0] > in_2000[1] and in_2010[1] > in_2010[0]  # all-time popularity would say movie 1 both times
    assert era.when(np.array([30 * YEAR, 31 * YEAR, 90 * YEAR])) == 31.0
    assert era.when(np.array([np.nan])) == era.latest == 40.0  # no dates: the catalogue's latest
    assert era.when(np.array([0.0])) == era.start  # kept within the counted years


def test_running_sums_equal_the_kernel_over_every_bin() -> None:
    rng = np.random.default_rng(3)
    stamps = rng.uniform(20, 48, 5000) * YEAR
    era = EraCounts.from_ratings(rng.integers(0, 40, 5000), stamps, 40)
    centres = era.start + (np.arange(era.counts.shape[1]) + 0.5) * 0.25
    for when in (era.start, 20.1, 33.3, 33.375, era.latest):
        mass = era.counts.toarray() @ np.exp(-np.abs(centres - when))
        expected = np.log1p(mass * era.counts.sum() / mass.sum())
        np.testing.assert_allclose(era.popularity(when), expected, rtol=1e-5)


def test_an_era_table_pickled_without_its_running_sums_rebuilds_them() -> None:
    era = EraCounts.from_frame(_two_eras(), {0: 0, 1: 1, 2: 2}, 3)
    old = EraCounts.__new__(EraCounts)
    old.__setstate__({"counts": era.counts, "start": era.start, "latest": era.latest})  # as an earlier build wrote it
    np.testing.assert_array_equal(old.popularity(35.0), era.popularity(35.0))


def test_fusion_era_columns_which_the_cold_ranker_never_sees() -> None:
    frame = _two_eras()
    items = ItemTable.from_payloads({0: {"genres": ["Drama"], "year": 1999}, 1: {"genres": ["Drama"], "year": 2009},
                                     2: {"genres": ["Drama"], "year": 2005}, 3: {"genres": ["Drama"], "year": 2020}},
                                    {})
    model = FusionModel(items, ranker="rrf")
    model.fit_frame(frame, Interactions.from_ratings(frame, item_ids=np.arange(4)))
    history = History(np.array([2]), np.array([5.0], np.float32), np.array([30 * YEAR]))
    feats = model.features(history)
    era, age = feats[:, FEATURES.index("era_popularity")], feats[:, FEATURES.index("release_age")]
    assert era.max() == 0.0 and era[0] > era[1] > era[3] == era.min()  # nobody rated movie 3: a zero count
    np.testing.assert_allclose(age, [1.0, -9.0, -5.0, -20.0])  # 2000 minus the release year
    hidden = model.features(history, hide_cf=np.array([True, False, False, False]))
    assert hidden[0, FEATURES.index("era_popularity")] == era.min()
    assert not COLD_FEATURES[[FEATURES.index("era_popularity"), FEATURES.index("release_age")]].any()


def test_a_history_tells_how_long_and_how_mainstream_its_rating_was() -> None:
    frame = _two_eras()  # movie 0 rated 20 times, movie 1 30 times, movie 2 50 times
    items = ItemTable.from_payloads({m: {"genres": ["Drama"], "year": 2000} for m in range(3)}, {})
    model = FusionModel(items, ranker="rrf")
    model.fit_frame(frame, Interactions.from_ratings(frame, item_ids=np.arange(3)))
    day = 86400.0

    def person(*stamps: float, movies: tuple[int, ...] = (0, 2)) -> np.ndarray:
        history = History(np.array(movies[:len(stamps)]), np.full(len(stamps), 5.0, np.float32), np.array(stamps))
        return model.features(history)[0]

    span, mainstream = FEATURES.index("history_span"), FEATURES.index("history_popularity")
    two_days = person(30 * YEAR, 30 * YEAR + 2 * day)
    assert two_days[span] == pytest.approx(np.log1p(2.0))
    assert two_days[mainstream] == pytest.approx((np.log1p(20) + np.log1p(50)) / 2 - np.log1p(50))
    assert np.isnan(person(30 * YEAR)[span]) and np.isnan(person(np.nan)[span])  # one film has no spread
    assert person(np.nan, np.nan)[span] == 0.0  # likes without dates: one sitting, now
    assert person(30 * YEAR, movies=(2,))[mainstream] == 0.0  # the most-rated movie alone
    disliked = History(np.array([2, 0]), np.array([5.0, 0.0], np.float32), np.array([np.nan, np.nan]))
    assert model.features(disliked)[0, mainstream] == 0.0  # a dislike is not what the person watches
    assert ERA_COLUMNS[span] and not ERA_COLUMNS[mainstream]  # the dateless ranker reads how mainstream, not when
    assert not COLD_FEATURES[span]


@pytest.fixture(scope="module")
def ratings(shared_data: Path) -> pd.DataFrame:
    df = pd.read_csv(shared_data / "ml-latest-small" / "ratings.csv")
    return df.rename(columns={"userId": "user_id", "movieId": "movie_id"})


def test_on_real_ratings_the_era_finds_what_new_people_rated(ratings: pd.DataFrame) -> None:
    """Protocol C's people, each shown three liked films: ranking by the popularity around their dates finds
    more of what they rated than all-time popularity (why the fusion has the era features)."""
    train, held = split_new_people(ratings, 0.2, seed=42)
    history, test = reveal_liked(held, 3, seed=42, min_liked=10)
    ids = np.union1d(train["movie_id"].unique(), held["movie_id"].unique())
    index = {int(m): c for c, m in enumerate(ids)}
    era = EraCounts.from_frame(train, index, len(ids))
    all_time = np.bincount(train["movie_id"].map(index), minlength=len(ids)).astype(float)
    shown, rated = history.groupby("user_id")["movie_id"].agg(list), test.groupby("user_id")["movie_id"].agg(set)
    ranked: dict[str, list[list[int]]] = {"era": [], "all time": []}
    for user, films in shown.items():
        dates = history.loc[history["user_id"] == user, "timestamp"].to_numpy(np.float64)
        for name, scores in (("era", era.popularity(era.when(dates)).astype(float)), ("all time", all_time.copy())):
            scores[[index[m] for m in films]] = -np.inf
            ranked[name].append(np.argsort(-scores)[:10].tolist())
    relevant = [{index[m] for m in rated[u]} for u in shown.index]
    ndcg = {name: ndcg_at_k(lists, relevant, 10).mean for name, lists in ranked.items()}
    assert ndcg["era"] > ndcg["all time"] + 0.05, ndcg  # 0.52 vs 0.42

