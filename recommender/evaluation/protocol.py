"""The offline evaluation harness: fit a collaborative model on a training frame, rank every unseen
movie for each test user, and score the lists with :mod:`recommender.evaluation.metrics`.

Relevance is binary: every movie a user rated in the test frame is relevant to them (the
Microsoft Recommenders convention), unless ``relevance_threshold`` keeps only ratings at or
above it. Each test user's candidates are *all* movies of the item set except those in their
training history; the item set is the union of training and test movies unless given, so a
test movie nobody rated in training is still counted as relevant (and is simply hard to find);
with an explicit ``item_ids``, test ratings of movies outside it are ignored. Test users with no
training ratings are left out (that is cold start, measured elsewhere).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from recommender.evaluation.metrics import (
    catalog_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    map_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    serendipity,
)
from recommender.ranking.collaborative import (
    EASE_MAX_ITEMS,
    ALSModel,
    CollaborativeModel,
    EASEModel,
    ItemKNNModel,
    PopularityModel,
    top_n,
)
from recommender.ranking.interactions import Interactions, Weighting
from recommender.ranking.splits import split_latest, split_random

log = logging.getLogger(__name__)

SplitProtocol = Literal["A", "B"]


@runtime_checkable
class FrameModel(Protocol):
    """A model that needs the whole training frame (timestamps, for recency) rather than the matrix alone,
    and scores users by id; it must keep the column order of ``inter``."""

    def fit_frame(self, train_df: pd.DataFrame, inter: Interactions) -> None: ...
    def score_users(self, user_ids: np.ndarray) -> np.ndarray: ...


def _ranked_unseen(model: CollaborativeModel | FrameModel, inter: Interactions, user_rows: np.ndarray, n: int,
                   batch_size: int) -> np.ndarray:
    """Top-n column indices per user among the items outside their training history, batch by batch."""
    out = np.empty((len(user_rows), min(n, inter.n_items)), dtype=np.int64)
    for start in range(0, len(user_rows), batch_size):
        batch = user_rows[start:start + batch_size]
        history = inter.matrix[batch]
        if isinstance(model, FrameModel):
            scores = np.array(model.score_users(inter.user_ids[batch]), dtype=np.float32)
        else:
            scores = np.array(model.score(history), dtype=np.float32)
        r, c = history.nonzero()
        scores[r, c] = -np.inf
        out[start:start + len(batch)] = top_n(scores, n)[0]
    return out


def evaluate_model(
    model: CollaborativeModel | FrameModel,
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    k: int = 10,
    *,
    recall_k: int = 20,
    weighting: Weighting = "binary",
    alpha: float = 4.0,
    item_ids: Iterable[int] | None = None,
    item_vectors: Mapping[int, np.ndarray] | None = None,
    relevance_threshold: float | None = None,
    batch_size: int = 512,
    sample_users: int | None = None,
    seed: int = 42,
) -> dict[str, float]:
    """Fit ``model`` on ``train_df`` and measure its top-k lists against ``test_df``.

    The model is fitted on :meth:`Interactions.from_ratings` of the training frame with
    ``weighting``/``alpha``; each test user's training row is scored in batches as one dense
    users x items matrix, their training items are excluded, and the best ``max(k, recall_k)``
    are kept. Returns ``ndcg@k, recall@recall_k, map@k, precision@k, recall@k, hit_rate@k``
    (means over test users, :mod:`recommender.evaluation.metrics` definitions), ``coverage@k`` (distinct
    movies recommended / item set), ``novelty@k`` (bits, popularity from training),
    ``serendipity@k`` (hits that training popularity's own top-k would not have made),
    ``diversity@k`` when ``item_vectors`` (movie id -> vector) are given, and ``users``,
    ``fit_seconds``, ``score_seconds``. ``sample_users``/``seed``: see :func:`rank_test_users`.

    Example:
        >>> train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "movie_id": [10, 20, 10, 20, 10],
        ...                       "rating": 5.0, "timestamp": 0})
        >>> test = pd.DataFrame({"user_id": [3], "movie_id": [20], "rating": 5.0, "timestamp": 1})
        >>> evaluate_model(PopularityModel(), train, test, k=1, recall_k=1)["hit_rate@1"]
        1.0
    """
    r = rank_test_users(model, train_df, test_df, max(k, recall_k), weighting=weighting, alpha=alpha,
                        item_ids=item_ids, relevance_threshold=relevance_threshold, batch_size=batch_size,
                        sample_users=sample_users, seed=seed)
    return ranking_metrics(r, k, recall_k=recall_k, item_vectors=item_vectors, batch_size=batch_size)


def ranking_metrics(r: Ranking, k: int = 10, *, recall_k: int = 20,
                    item_vectors: Mapping[int, np.ndarray] | None = None, batch_size: int = 512) -> dict[str, float]:
    """The metrics of :func:`evaluate_model` for lists already ranked by :func:`rank_test_users`.

    Example:
        >>> train = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 20, 10], "rating": 5.0, "timestamp": 0})
        >>> test = pd.DataFrame({"user_id": [2], "movie_id": [20], "rating": 5.0, "timestamp": 1})
        >>> ranking_metrics(rank_test_users(PopularityModel(), train, test, n=1), k=1, recall_k=1)["ndcg@1"]
        1.0
    """
    inter, ranked, relevant = r.inter, r.ranked, r.relevant
    popularity = PopularityModel()
    popularity.fit(inter.matrix)
    expected = _ranked_unseen(popularity, inter, r.user_rows, k, batch_size)
    assert popularity.item_popularity is not None

    results: dict[str, float] = {
        f"ndcg@{k}": ndcg_at_k(ranked, relevant, k).mean,
        f"recall@{recall_k}": recall_at_k(ranked, relevant, recall_k).mean,
        f"map@{k}": map_at_k(ranked, relevant, k).mean,
        f"precision@{k}": precision_at_k(ranked, relevant, k).mean,
        f"recall@{k}": recall_at_k(ranked, relevant, k).mean,
        f"hit_rate@{k}": hit_rate_at_k(ranked, relevant, k).mean,
        f"coverage@{k}": catalog_coverage(ranked, inter.n_items, k),
        f"novelty@{k}": novelty(ranked, popularity.item_popularity, inter.n_users, k).mean,
        f"serendipity@{k}": serendipity(ranked, relevant, expected, k).mean,
    }
    if item_vectors is not None:
        as_movies = inter.item_ids[ranked[:, :k]]
        results[f"diversity@{k}"] = intra_list_diversity(as_movies, item_vectors, k).mean
    results.update(users=len(r.users), fit_seconds=r.fit_seconds, score_seconds=r.score_seconds)
    return results


@dataclass
class Ranking:
    """Each test user's ranked movies (columns of ``inter``, best first) and relevant columns."""

    inter: Interactions
    users: np.ndarray
    user_rows: np.ndarray
    ranked: np.ndarray
    relevant: list[set[int]]
    fit_seconds: float
    score_seconds: float


def rank_test_users(model: CollaborativeModel | FrameModel, train_df: pd.DataFrame, test_df: pd.DataFrame,
                    n: int = 20, *, weighting: Weighting = "binary", alpha: float = 4.0,
                    item_ids: Iterable[int] | None = None, relevance_threshold: float | None = None,
                    batch_size: int = 512, sample_users: int | None = None, seed: int = 42) -> Ranking:
    """Fit ``model`` on ``train_df`` and rank the top ``n`` unseen movies of every test user (the lists
    :func:`evaluate_model` scores; per-user metrics come from them, e.g. for a paired comparison).

    ``sample_users`` ranks only that many test users, drawn uniformly without replacement with ``seed`` (the
    model still trains on every training rating): at ML-32M's size scoring all 200k people would take longer
    than training, and 5,000 already give a bootstrap interval of about +-0.005 nDCG@10. The same seed draws the
    same people for every model, so their per-user metrics pair up.

    Example:
        >>> train = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 20, 10], "rating": 5.0, "timestamp": 0})
        >>> test = pd.DataFrame({"user_id": [2], "movie_id": [20], "rating": 5.0, "timestamp": 1})
        >>> r = rank_test_users(PopularityModel(), train, test, n=1)
        >>> r.inter.item_ids[r.ranked].tolist(), r.relevant
        ([[20]], [{1}])
    """
    if item_ids is None:
        item_ids = np.union1d(train_df["movie_id"].unique(), test_df["movie_id"].unique())
    inter = Interactions.from_ratings(train_df, item_ids=item_ids, weighting=weighting, alpha=alpha)

    started = time.perf_counter()
    if isinstance(model, FrameModel):
        model.fit_frame(train_df, inter)
    else:
        model.fit(inter.matrix, show_progress=False)
    fit_seconds = time.perf_counter() - started

    test = test_df if relevance_threshold is None else test_df[test_df["rating"] >= relevance_threshold]
    test = test[test["user_id"].isin(inter.user_index) & test["movie_id"].isin(inter.item_index)]
    test_users = np.unique(test["user_id"].to_numpy())
    if sample_users is not None and sample_users < len(test_users):
        test_users = np.sort(np.random.default_rng(seed).choice(test_users, size=sample_users, replace=False))
        test = test[test["user_id"].isin(test_users)]
    user_rows = np.array([inter.user_index[int(u)] for u in test_users], dtype=np.int64)
    item_cols = pd.Index(inter.item_ids)
    relevant_cols = (test.assign(col=item_cols.get_indexer(test["movie_id"].to_numpy()))
                     .groupby("user_id")["col"].agg(set))
    relevant = [relevant_cols[u] for u in test_users]

    started = time.perf_counter()
    ranked = _ranked_unseen(model, inter, user_rows, n, batch_size)
    return Ranking(inter, test_users, user_rows, ranked, relevant, fit_seconds, time.perf_counter() - started)


#: The baselines of :func:`run_baselines`: name -> (model factory, matrix weighting).
#: Hyperparameters were chosen on a validation split carved out of protocol A's training
#: data (the latest 20% of each user's training ratings), never on its test data.
BASELINES: dict[str, tuple[Callable[[], CollaborativeModel], Weighting]] = {
    "popularity": (PopularityModel, "binary"),
    "item-kNN": (lambda: ItemKNNModel(k_neighbours=20, shrinkage=10.0), "rating"),
    "ALS": (lambda: ALSModel(factors=128, regularization=30.0, iterations=15), "confidence"),
    "EASE": (lambda: EASEModel(l2=300.0, max_items=EASE_MAX_ITEMS), "binary"),
}


def split_protocol(ratings_df: pd.DataFrame, protocol: SplitProtocol) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)`` under protocol A (per-user latest 20%) or B (per-user random 25%, seed 42).

    Example:
        >>> df = pd.DataFrame({"user_id": [1] * 5, "movie_id": range(5), "rating": 4.0, "timestamp": range(5)})
        >>> [len(part) for part in split_protocol(df, "A")]
        [4, 1]
    """
    if protocol == "A":
        return split_latest(ratings_df, frac=0.2)
    if protocol == "B":
        return split_random(ratings_df, frac=0.25, seed=42)
    raise ValueError(f"unknown protocol {protocol!r}; use 'A' (latest 20%) or 'B' (random 25%)")


def run_baselines(
    ratings_df: pd.DataFrame,
    protocol: SplitProtocol,
    k: int = 10,
    models: Mapping[str, tuple[Callable[[], CollaborativeModel], Weighting]] | None = None,
    item_vectors: Mapping[int, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Evaluate every baseline under one protocol: one row per model, one column per metric.

    ``models`` defaults to :data:`BASELINES` (popularity, item-kNN, ALS, EASE); columns are the
    keys of :func:`evaluate_model` (with ``fit_seconds`` and ``score_seconds``).

    Example:
        >>> df = pd.DataFrame({"user_id": [1] * 5 + [2] * 5, "movie_id": [1, 2, 3, 4, 5] * 2,
        ...                    "rating": 4.0, "timestamp": list(range(5)) * 2})
        >>> run_baselines(df, "A", models={"popularity": BASELINES["popularity"]}).index.tolist()
        ['popularity']
    """
    train, test = split_protocol(ratings_df, protocol)
    rows = {}
    for name, (factory, weighting) in (models or BASELINES).items():
        log.info("protocol %s: evaluating %s", protocol, name)
        rows[name] = evaluate_model(factory(), train, test, k=k, weighting=weighting, item_vectors=item_vectors)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    return frame


def to_markdown(df: pd.DataFrame, float_format: str = ".4f") -> str:
    """A GitHub-flavoured markdown table of a frame (index as the first column), floats formatted.

    Example:
        >>> print(to_markdown(pd.DataFrame({"ndcg@10": [0.12345]}, index=pd.Index(["EASE"], name="model"))))
        | model | ndcg@10 |
        |---|---:|
        | EASE | 0.1235 |
    """
    def cell(value: object) -> str:
        if isinstance(value, float | np.floating):
            return format(float(value), float_format)
        return str(value)

    header = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(df.columns)]
    for index, *values in df.itertuples(name=None):  # itertuples keeps each column's dtype
        lines.append("| " + " | ".join([str(index)] + [cell(v) for v in values]) + " |")
    return "\n".join(lines)
