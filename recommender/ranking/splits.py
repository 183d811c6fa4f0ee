"""Train/test splits of a ratings frame (columns ``user_id, movie_id, rating, timestamp``).

Every function is pure: it returns ``(train, test)`` as two new frames holding the input's rows
(index and columns kept), disjoint and together exactly the input, and never modifies its input.

* :func:`split_latest` - protocol A, "predict what they watch next": per user, the latest ratings.
* :func:`split_random` - protocol B, the Microsoft Recommenders MovieLens benchmark protocol.
* :func:`split_cold_items` - movies held out of all training, for content-based cold start.
* :func:`split_new_people` and :func:`reveal_liked` - protocol C, "new people": people held out of all training,
  each shown to the model as a few of the movies they liked.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def _stratified(df: pd.DataFrame, order_key: np.ndarray, frac: float, min_ratings: int) -> tuple[
        pd.DataFrame, pd.DataFrame]:
    """Per user, rows ordered by ``order_key``: those whose rank/count exceeds ``1 - frac`` are test."""
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"frac must lie in [0, 1], got {frac}")
    users = df["user_id"].to_numpy()
    # lexsort sorts by the last key first: user, then order_key, then original position for ties
    order = np.lexsort((np.arange(len(df)), order_key, users))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(sorted_users[1:] != sorted_users[:-1]) + 1]
    counts = np.diff(np.r_[starts, len(df)])
    rank = np.arange(len(df)) - np.repeat(starts, counts) + 1
    count = np.repeat(counts, counts)
    # the same float comparison as recommenders' _do_stratification, so the splits agree exactly
    is_test_sorted = (rank / count > 1.0 - frac) & (count >= min_ratings)
    is_test = np.empty(len(df), dtype=bool)
    is_test[order] = is_test_sorted
    return df[~is_test].copy(), df[is_test].copy()


def split_latest(df: pd.DataFrame, frac: float = 0.2, min_ratings: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Protocol A: per user, the latest ``frac`` of their ratings by timestamp are test.

    A user with ``n`` ratings keeps the first ``floor((1 - frac) * n)`` in time order for training
    and the rest for test (the rule of recommenders' ``python_chrono_split``: a rating is test
    when its rank / n > 1 - frac). Ratings with equal timestamps are ordered by ``movie_id``.
    Users with fewer than ``min_ratings`` ratings go to training entirely: a held-out rating of a
    user with almost no history measures cold start, not ranking. (Every ml-latest-small user
    has at least 20 ratings.)

    Example:
        >>> df = pd.DataFrame({"user_id": [1] * 5, "movie_id": [10, 20, 30, 40, 50],
        ...                    "rating": [4.0] * 5, "timestamp": [5, 1, 4, 2, 3]})
        >>> train, test = split_latest(df, frac=0.2)
        >>> sorted(train.movie_id), test.movie_id.tolist()
        ([20, 30, 40, 50], [10])
    """
    movie_tiebreak = df["movie_id"].to_numpy()
    key = np.lexsort((movie_tiebreak, df["timestamp"].to_numpy()))
    order_key = np.empty(len(df), dtype=np.int64)
    order_key[key] = np.arange(len(df))
    return _stratified(df, order_key, frac, min_ratings)


def split_random(df: pd.DataFrame, frac: float = 0.25, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Protocol B: per user, a random ``frac`` of their ratings are test (a stratified random split).

    This is recommenders' ``python_stratified_split(data, ratio=1 - frac, filter_by="user",
    seed=seed)``, the split of its MovieLens benchmark: each row gets a key from
    ``np.random.RandomState(seed).rand(len(df))`` in input order; per user, rows sorted by key with
    rank / n > 1 - frac are test. Given the same rows in the same order, the two splits are
    identical. A user with ``n`` ratings has ``n - floor((1 - frac) * n)`` test ratings (so a
    user with a single rating is all test, as there).

    Example:
        >>> df = pd.DataFrame({"user_id": [1] * 8 + [2] * 4, "movie_id": range(12),
        ...                    "rating": 4.0, "timestamp": 0})
        >>> train, test = split_random(df, frac=0.25)
        >>> test.groupby("user_id").size().tolist(), len(train)
        ([2, 1], 9)
    """
    key = np.random.RandomState(seed).rand(len(df))
    return _stratified(df, key, frac, min_ratings=1)


def split_cold_items(df: pd.DataFrame, item_pool: Iterable[int], frac: float = 0.1,
                     seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold ``frac`` of the movies in ``item_pool`` out of all training: every rating of them is test.

    ``item_pool`` is the set of movies eligible for holding out (those with content: an overview,
    a poster or reviews), so the test measures how well content alone places a movie nobody has
    rated. ``round(frac * k)`` movies are drawn uniformly without replacement (``seed``) from the
    ``k`` pool movies that have at least one rating in ``df``; pool movies without ratings could
    never be tested and are ignored. The held-out movies are ``test.movie_id.unique()``.

    Example:
        >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2], "movie_id": [10, 20, 10, 30],
        ...                    "rating": 4.0, "timestamp": 0})
        >>> train, test = split_cold_items(df, item_pool=[10, 99], frac=1.0)
        >>> sorted(train.movie_id), sorted(test.movie_id)
        ([20, 30], [10, 10])
    """
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"frac must lie in [0, 1], got {frac}")
    rated = df["movie_id"].to_numpy()
    candidates = np.intersect1d(np.asarray(list(item_pool)), np.unique(rated))
    n_held = int(round(frac * len(candidates)))
    held = np.random.default_rng(seed).choice(candidates, size=n_held, replace=False)
    is_test = np.isin(rated, held)
    return df[~is_test].copy(), df[is_test].copy()


def split_new_people(df: pd.DataFrame, frac: float = 0.2, seed: int = 42, fold: int = 0
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Protocol C: hold ``frac`` of the people out of all training; every rating of theirs is test.

    ``round(frac * n)`` of the ``n`` distinct users are drawn uniformly without replacement (``seed``), so the
    two frames share no user: models learn from the others only, and each held-out person reaches a model
    only through the few liked movies :func:`reveal_liked` shows it. ``fold`` k draws the k-th of successive
    disjoint draws (fold 0 is the first), so folds 0 to 1/frac - 1 hold every person out once.

    Example:
        >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "movie_id": [10, 20, 10, 30, 20],
        ...                    "rating": 4.0, "timestamp": 0})
        >>> train, held = split_new_people(df, frac=0.34)
        >>> sorted(set(train.user_id)), sorted(set(held.user_id))
        ([2, 3], [1])
        >>> [sorted(set(split_new_people(df, frac=0.34, fold=k)[1].user_id)) for k in (1, 2)]
        [[3], [2]]
    """
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"frac must lie in [0, 1], got {frac}")
    if fold < 0:
        raise ValueError(f"fold must be 0 or more, got {fold}")
    rng = np.random.default_rng(seed)
    users = np.unique(df["user_id"].to_numpy())
    size = int(round(frac * len(users)))
    for _ in range(fold):  # the earlier folds' people are not drawn again
        users = np.setdiff1d(users, rng.choice(users, size=min(size, len(users)), replace=False))
    held = rng.choice(users, size=min(size, len(users)), replace=False)
    is_test = df["user_id"].isin(held).to_numpy()
    return df[~is_test].copy(), df[is_test].copy()


def reveal_liked(held: pd.DataFrame, n: int, seed: int = 42, threshold: float = 4.0,
                 min_liked: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(history, test)``: per person, ``n`` of their liked ratings (rating >= ``threshold``) drawn at random
    are the history a model sees; every other rating of theirs is test.

    The draw is a random order of each person's liked ratings from ``seed`` (one key per row, in input order,
    as :func:`split_random` draws), and the history is its first ``n``: the histories for n = 1, 3, 5 and 10
    are nested, so a larger n only adds films. People with fewer than ``min_liked`` likes (default ``n``) or
    with no rating left beyond their first ``min_liked`` are left out of both frames, so the same ``min_liked`` gives
    every n the same people.

    Example:
        >>> held = pd.DataFrame({"user_id": [7] * 4, "movie_id": [1, 2, 3, 4], "rating": [5.0, 4.0, 2.0, 4.5],
        ...                      "timestamp": 0})
        >>> history, test = reveal_liked(held, 2)
        >>> len(history), bool(history["rating"].min() >= 4.0), sorted(set(history.movie_id) | set(test.movie_id))
        (2, True, [1, 2, 3, 4])
    """
    if n < 1:
        raise ValueError(f"reveal at least one liked movie per person, got n={n}")
    need = n if min_liked is None else max(n, min_liked)
    key = np.random.RandomState(seed).rand(len(held))
    liked = held["rating"].to_numpy() >= threshold
    users = held["user_id"].to_numpy()
    order = np.lexsort((np.arange(len(held)), key, ~liked, users))  # per person: liked first, in random order
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(sorted_users[1:] != sorted_users[:-1]) + 1] if len(held) else np.zeros(0, int)
    counts = np.diff(np.r_[starts, len(held)])
    rank = np.arange(len(held)) - np.repeat(starts, counts)
    n_liked = np.add.reduceat(liked[order].astype(np.int64), starts) if len(held) else np.zeros(0, np.int64)
    eligible = np.repeat((n_liked >= need) & (counts > need), counts)
    in_history = np.zeros(len(held), dtype=bool)
    in_history[order] = (rank < n) & eligible
    in_test = np.zeros(len(held), dtype=bool)
    in_test[order] = (rank >= n) & eligible
    return held[in_history].copy(), held[in_test].copy()
