"""Splits are disjoint, cover the input, keep per-user proportions, and respect time or item pools."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.ranking.splits import reveal_liked, split_cold_items, split_latest, split_new_people, split_random


def _toy(n_users: int = 30, seed: int = 0) -> pd.DataFrame:
    """Users with 1..40 ratings each, timestamps drawn at random (with ties), shuffled rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        n = int(rng.integers(1, 41))
        for movie in rng.choice(500, size=n, replace=False):
            rows.append((user, int(movie), float(rng.integers(1, 11)) / 2, int(rng.integers(0, 50))))
    df = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    return df.sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def ratings(shared_data: Path) -> pd.DataFrame:
    df = pd.read_csv(shared_data / "ml-latest-small" / "ratings.csv")
    return df.rename(columns={"userId": "user_id", "movieId": "movie_id"})


def _assert_partition(df: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> None:
    assert set(train.index).isdisjoint(test.index)
    assert sorted(train.index.tolist() + test.index.tolist()) == sorted(df.index.tolist())
    pd.testing.assert_frame_equal(pd.concat([train, test]).sort_index(), df.sort_index())


def _expected_test_count(n: int, frac: float) -> int:
    return n - math.floor((1 - frac) * n + 1e-9)


class TestSplitLatest:
    def test_partition_and_input_untouched(self) -> None:
        df = _toy()
        before = df.copy()
        train, test = split_latest(df)
        _assert_partition(df, train, test)
        pd.testing.assert_frame_equal(df, before)

    def test_per_user_proportions_and_small_users(self) -> None:
        df = _toy()
        train, test = split_latest(df, frac=0.2, min_ratings=5)
        test_counts = test.groupby("user_id").size()
        for user, n in df.groupby("user_id").size().items():
            expected = 0 if n < 5 else _expected_test_count(n, 0.2)
            assert test_counts.get(user, 0) == expected, (user, n)

    def test_test_is_latest(self) -> None:
        df = _toy()
        train, test = split_latest(df)
        last_train = train.groupby("user_id")["timestamp"].max()
        first_test = test.groupby("user_id")["timestamp"].min()
        assert (first_test >= last_train.loc[first_test.index]).all()

    def test_ties_broken_by_movie_id(self) -> None:
        df = pd.DataFrame({"user_id": 1, "movie_id": [50, 40, 30, 20, 10], "rating": 3.0, "timestamp": 7})
        train, test = split_latest(df, frac=0.4)
        assert sorted(test.movie_id) == [40, 50]

    def test_real_data(self, ratings: pd.DataFrame) -> None:
        train, test = split_latest(ratings)
        _assert_partition(ratings, train, test)
        assert len(test) / len(ratings) == pytest.approx(0.2, abs=0.01)
        assert test.user_id.nunique() == ratings.user_id.nunique() == 610
        last_train = train.groupby("user_id")["timestamp"].max()
        first_test = test.groupby("user_id")["timestamp"].min()
        assert (first_test >= last_train).all()


def _recommenders_stratified(data: pd.DataFrame, ratio: float, seed: int) -> pd.DataFrame:
    """The test part of recommenders' python_stratified_split, restated from its source."""
    data = data.copy()
    np.random.seed(seed)
    data["random"] = np.random.rand(data.shape[0])
    data = data.sort_values(["user_id", "random"])
    groups = data.groupby("user_id")
    data["count"] = groups["user_id"].transform("count")
    data["rank"] = (groups.cumcount() + 1) / data["count"]
    return data[data["rank"] > ratio].drop(columns=["random", "count", "rank"])


class TestSplitRandom:
    def test_partition_and_proportions(self) -> None:
        df = _toy()
        train, test = split_random(df, frac=0.25, seed=42)
        _assert_partition(df, train, test)
        test_counts = test.groupby("user_id").size()
        for user, n in df.groupby("user_id").size().items():
            assert test_counts.get(user, 0) == _expected_test_count(n, 0.25)

    def test_seeded(self) -> None:
        df = _toy()
        a = split_random(df, seed=42)[1]
        b = split_random(df, seed=42)[1]
        c = split_random(df, seed=7)[1]
        assert a.index.equals(b.index)
        assert not a.index.sort_values().equals(c.index.sort_values())

    def test_matches_recommenders_stratified_split(self) -> None:
        df = _toy(n_users=50, seed=3)
        _, test = split_random(df, frac=0.25, seed=42)
        reference = _recommenders_stratified(df, ratio=0.75, seed=42)
        assert sorted(test.index) == sorted(reference.index)

    def test_real_data(self, ratings: pd.DataFrame) -> None:
        train, test = split_random(ratings)
        _assert_partition(ratings, train, test)
        assert len(test) / len(ratings) == pytest.approx(0.25, abs=0.01)
        assert sorted(test.index) == sorted(_recommenders_stratified(ratings, 0.75, 42).index)


class TestSplitColdItems:
    def test_held_items_leave_training_entirely(self) -> None:
        df = _toy()
        pool = list(range(0, 500, 2)) + [10_000]  # even movies "have content"; 10000 was never rated
        train, test = split_cold_items(df, pool, frac=0.1, seed=42)
        _assert_partition(df, train, test)
        held = set(test.movie_id)
        assert held.isdisjoint(train.movie_id)
        assert held <= set(pool)
        candidates = set(pool) & set(df.movie_id)
        assert len(held) == round(0.1 * len(candidates))
        assert len(test) == df.movie_id.isin(held).sum()

    def test_seeded_and_empty_pool(self) -> None:
        df = _toy()
        pool = df.movie_id.unique()
        assert split_cold_items(df, pool, seed=1)[1].index.equals(split_cold_items(df, pool, seed=1)[1].index)
        train, test = split_cold_items(df, [], frac=0.1)
        assert test.empty and len(train) == len(df)

    def test_bad_fraction(self) -> None:
        with pytest.raises(ValueError):
            split_cold_items(_toy(), [1], frac=1.5)
        with pytest.raises(ValueError):
            split_latest(_toy(), frac=-0.1)


class TestNewPeople:
    """Protocol C: a held-out person's ratings never reach training; a model sees only the liked few revealed."""

    @staticmethod
    def _check(df: pd.DataFrame, frac: float = 0.2, sizes: tuple[int, ...] = (1, 3, 5, 10)) -> None:
        train, held = split_new_people(df, frac=frac, seed=42)
        _assert_partition(df, train, held)
        held_people = set(held.user_id)
        assert held_people.isdisjoint(train.user_id)  # asserted on ids: no held-out person in training
        assert len(held_people) == round(frac * df.user_id.nunique())
        people = None
        previous: dict[int, set[int]] = {}
        for n in sizes:
            history, test = reveal_liked(held, n, seed=42, min_liked=max(sizes))
            assert set(history.index).isdisjoint(test.index) and set(history.index) <= set(held.index)
            assert set(history.user_id) <= held_people and set(history.user_id).isdisjoint(train.user_id)
            assert (history.rating >= 4.0).all() and (history.groupby("user_id").size() == n).all()
            assert set(test.user_id) == set(history.user_id)
            people = people or set(history.user_id)
            assert set(history.user_id) == people  # the same people for every n
            shown = history.groupby("user_id")["movie_id"].agg(set)
            for user, movies in previous.items():
                assert movies <= shown[user]  # nested: a larger n only adds films
            previous = shown.to_dict()
            for user, group in held[held.user_id.isin(people)].groupby("user_id"):
                assert len(group) == len(history[history.user_id == user]) + len(test[test.user_id == user])

    def test_toy(self) -> None:
        df = _toy()
        df = df[df.groupby("user_id")["movie_id"].transform("size") >= 5]
        self._check(df, frac=0.3, sizes=(1, 2))

    def test_real_data(self, ratings: pd.DataFrame) -> None:
        self._check(ratings)
        train, held = split_new_people(ratings, frac=0.2, seed=42)
        assert held.user_id.nunique() == 122 and train.user_id.nunique() == 488
        folds = [split_new_people(ratings, frac=0.2, seed=42, fold=k) for k in range(5)]
        assert folds[0][1].equals(held)  # fold 0 is the single hold-out
        for train_k, held_k in folds:
            _assert_partition(ratings, train_k, held_k)
            assert set(held_k.user_id).isdisjoint(train_k.user_id)
        held_sets = [set(h.user_id) for _, h in folds]
        assert set().union(*held_sets) == set(ratings.user_id) and sum(map(len, held_sets)) == 610  # each once

    def test_people_without_enough_likes_are_left_out(self) -> None:
        held = pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "movie_id": [1, 2, 3, 1, 2],
                             "rating": [5.0, 4.0, 1.0, 5.0, 2.0], "timestamp": 0})
        history, test = reveal_liked(held, 2)
        assert set(history.user_id) == {1} and set(test.movie_id) == {3}
        with pytest.raises(ValueError):
            reveal_liked(held, 0)


def test_docstring_examples() -> None:
    import doctest

    import recommender.ranking.splits

    assert doctest.testmod(recommender.ranking.splits, raise_on_error=False).failed == 0
