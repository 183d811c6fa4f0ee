"""Offline evaluation metrics: pure functions of recommended lists and relevant sets.

Inputs are aligned by position: ``recommended[u]`` is user ``u``'s ranked list (best first, no
item twice), ``relevant[u]`` the set of items that user interacted with in the test period.
Items may be any hashable ids (movie ids, or column indices), as long as both sides use the same.

Ranking metrics return a :class:`MetricResult`: the per-user values and their mean. A user
whose relevant set is empty has no defined value: their entry is ``nan`` and the mean leaves
them out, as in Microsoft Recommenders (``recommenders.evaluation.python_evaluation``), which
averages over the users present in the ground truth. The mean is ``nan`` when no user counts.

Definitions follow Microsoft Recommenders where it has the metric, with binary relevance:
``L_u`` is the top-k of ``recommended[u]`` (it may hold fewer than k items), ``R_u`` = ``relevant[u]``,
``rel_r`` = 1 if the item at rank ``r`` is in ``R_u`` else 0.

* Precision@k = |L_u ∩ R_u| / k (divided by k even when fewer than k items were recommended,
  as recommenders and Spark do).
* Recall@k = |L_u ∩ R_u| / |R_u|.
* HitRate@k = 1 if |L_u ∩ R_u| > 0 else 0.
* nDCG@k = DCG / IDCG with DCG = sum_{r=1..k} rel_r / log2(r + 1) and
  IDCG = sum_{r=1..min(|R_u|, k)} 1 / log2(r + 1) (the log base cancels; recommenders uses ln).
* MAP@k: mean over users of AP@k = (1 / min(|R_u|, k)) * sum_{r=1..k} rel_r * Precision@r.
  This is recommenders' current ``map_at_k`` (since 1.2, after Spark's ``meanAveragePrecisionAt``);
  its older ``map_at_k`` and its current ``map`` divide by |R_u| instead, which caps AP@k below 1
  whenever a user has more than k relevant items.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

RankedLists = Sequence[Sequence[Hashable]] | np.ndarray
RelevantSets = Sequence[Collection[Hashable]]


class MetricResult(NamedTuple):
    """A metric's per-user values (float64, ``nan`` where undefined) and their mean over defined users.

    Example:
        >>> r = MetricResult(np.array([1.0, np.nan, 0.0]), 0.5)
        >>> r.mean, float(r)
        (0.5, 0.5)
    """

    per_user: np.ndarray
    mean: float

    def __float__(self) -> float:
        return self.mean


def _result(per_user: Sequence[float]) -> MetricResult:
    values = np.asarray(per_user, dtype=np.float64)
    defined = values[~np.isnan(values)]
    return MetricResult(values, float(defined.mean()) if defined.size else float("nan"))


def _check_aligned(recommended: RankedLists, relevant: Sequence[object] | np.ndarray) -> None:
    if len(recommended) != len(relevant):
        raise ValueError(f"recommended has {len(recommended)} users but relevant has {len(relevant)}; "
                         "they must be aligned by position")


def _hit_flags(recommended: RankedLists, relevant: RelevantSets, k: int) -> list[tuple[np.ndarray, int]]:
    """For each user: a bool array over their top-k (True where relevant) and |R_u|."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    _check_aligned(recommended, relevant)
    out = []
    for items, truth in zip(recommended, relevant, strict=True):
        top = list(items)[:k]
        if len(set(top)) != len(top):
            raise ValueError(f"a recommended list repeats an item: {top}")
        truth_set = truth if isinstance(truth, set | frozenset) else set(truth)
        out.append((np.fromiter((i in truth_set for i in top), dtype=bool, count=len(top)), len(truth_set)))
    return out


def precision_at_k(recommended: RankedLists, relevant: RelevantSets, k: int = 10) -> MetricResult:
    """Precision@k = |L_u ∩ R_u| / k per user; ``nan`` for users with no relevant items.

    Example (ranks 2 and 5 are hits; the second user got only two items, one a hit):
        >>> r = precision_at_k([[1, 2, 3, 4, 5], [7, 8]], [{2, 5, 9}, {8}], k=5)
        >>> r.per_user.tolist(), round(r.mean, 4)
        ([0.4, 0.2], 0.3)
    """
    return _result([hits.sum() / k if n_rel else np.nan for hits, n_rel in _hit_flags(recommended, relevant, k)])


def recall_at_k(recommended: RankedLists, relevant: RelevantSets, k: int = 10) -> MetricResult:
    """Recall@k = |L_u ∩ R_u| / |R_u| per user; ``nan`` for users with no relevant items.

    Example:
        >>> r = recall_at_k([[1, 2, 3, 4, 5], [7, 8]], [{2, 5, 9}, set()], k=5)
        >>> r.per_user.round(4).tolist(), round(r.mean, 4)
        ([0.6667, nan], 0.6667)
    """
    return _result([hits.sum() / n_rel if n_rel else np.nan
                    for hits, n_rel in _hit_flags(recommended, relevant, k)])


def hit_rate_at_k(recommended: RankedLists, relevant: RelevantSets, k: int = 10) -> MetricResult:
    """HitRate@k = 1 if any of the top-k is relevant else 0, per user; ``nan`` with no relevant items.

    Example:
        >>> hit_rate_at_k([[1, 2, 3, 4, 5], [7, 8]], [{2, 5, 9}, {1}], k=5).per_user.tolist()
        [1.0, 0.0]
    """
    return _result([float(hits.any()) if n_rel else np.nan
                    for hits, n_rel in _hit_flags(recommended, relevant, k)])


def ndcg_at_k(recommended: RankedLists, relevant: RelevantSets, k: int = 10) -> MetricResult:
    """nDCG@k with binary gains: DCG / IDCG, DCG = sum rel_r / log2(r + 1), IDCG over min(|R_u|, k) hits.

    Example (hits at ranks 2 and 5 of 5, three relevant items):
    DCG = 1/log2(3) + 1/log2(6) = 1.01778; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.13093.
        >>> r = ndcg_at_k([[1, 2, 3, 4, 5]], [{2, 5, 9}], k=5)
        >>> round(r.mean, 4)
        0.4776
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for hits, n_rel in _hit_flags(recommended, relevant, k):
        if not n_rel:
            values.append(np.nan)
            continue
        dcg = discounts[: len(hits)][hits].sum()
        idcg = discounts[: min(n_rel, k)].sum()
        values.append(dcg / idcg)
    return _result(values)


def map_at_k(recommended: RankedLists, relevant: RelevantSets, k: int = 10) -> MetricResult:
    """MAP@k: AP@k = sum over hit ranks r <= k of Precision@r, divided by min(|R_u|, k).

    This is Microsoft Recommenders' current ``map_at_k`` (see the module docstring).

    Example (hits at ranks 2 and 5: (1/2 + 2/5) / min(3, 5) = 0.3; the second user's
    single relevant item is at rank 1: 1/1 / 1 = 1.0):
        >>> r = map_at_k([[1, 2, 3, 4, 5], [7, 8]], [{2, 5, 9}, {7}], k=5)
        >>> r.per_user.round(4).tolist(), round(r.mean, 4)
        ([0.3, 1.0], 0.65)
    """
    values = []
    for hits, n_rel in _hit_flags(recommended, relevant, k):
        if not n_rel:
            values.append(np.nan)
            continue
        ranks = np.flatnonzero(hits) + 1
        precisions = np.arange(1, len(ranks) + 1) / ranks
        values.append(precisions.sum() / min(n_rel, k))
    return _result(values)


def catalog_coverage(recommended: RankedLists, n_items: int, k: int | None = None) -> float:
    """Catalog coverage: distinct items in all users' top-k lists / ``n_items`` (the catalog size).

    Example:
        >>> catalog_coverage([[1, 2, 3], [2, 3, 4]], n_items=8)
        0.5
    """
    if n_items < 1:
        raise ValueError(f"n_items must be positive, got {n_items}")
    shown = {item for items in recommended for item in list(items)[:k]}
    return len(shown) / n_items


def _vector_of(item_vectors: np.ndarray | Mapping[Any, np.ndarray], item: Hashable) -> np.ndarray | None:
    if isinstance(item_vectors, np.ndarray):
        return item_vectors[int(item)]  # type: ignore[call-overload]
    return item_vectors.get(item)


def intra_list_diversity(recommended: RankedLists, item_vectors: np.ndarray | Mapping[Any, np.ndarray],
                         k: int | None = None) -> MetricResult:
    """Intra-list diversity: per user, the mean cosine distance 1 - cos(v_i, v_j) over pairs i < j of the top-k.

    ``item_vectors`` is an array indexed by item (when items are column indices) or a mapping
    from item id to vector; items without a vector are skipped. Users with fewer than two
    items with vectors have no defined value (``nan``). A zero vector counts as orthogonal to all.

    Example (e1 vs e2: distance 1; each vs (1, 1): 1 - 0.7071 = 0.2929; mean 0.5286):
        >>> vecs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> round(intra_list_diversity([[0, 1, 2]], vecs).mean, 4)
        0.5286
    """
    values = []
    for items in recommended:
        vectors = [v for v in (_vector_of(item_vectors, i) for i in list(items)[:k]) if v is not None]
        if len(vectors) < 2:
            values.append(np.nan)
            continue
        mat = np.asarray(vectors, dtype=np.float64)
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        mat = np.divide(mat, norms, out=np.zeros_like(mat), where=norms > 0)
        cos = mat @ mat.T
        upper = np.triu_indices(len(mat), k=1)
        values.append(float(np.mean(1.0 - cos[upper])))
    return _result(values)


def novelty(recommended: RankedLists, item_popularity: np.ndarray | Mapping[Any, float], n_users: int,
            k: int | None = None) -> MetricResult:
    """Novelty: per user, the mean self-information -log2(pop_i / n_users) of the items in their top-k.

    ``pop_i`` is the number of training users who interacted with item i (an array indexed by
    item, or a mapping); ``n_users`` the number of training users. Items never seen in training
    count as ``pop_i = 1`` so their novelty stays finite (log2(n_users), the maximum). When every
    list has the same length the mean equals recommenders' ``novelty`` (the average over all
    recommended slots). Empty lists give ``nan``.

    Example (8 users; popularities 4, 2, 1 carry 1, 2 and 3 bits):
        >>> novelty([[10, 20, 30]], {10: 4, 20: 2, 30: 1}, n_users=8).mean
        2.0
    """
    values = []
    for items in recommended:
        top = list(items)[:k]
        if not top:
            values.append(np.nan)
            continue
        if isinstance(item_popularity, np.ndarray):
            pops = item_popularity[np.asarray(top, dtype=np.int64)].astype(np.float64)
        else:
            pops = np.array([item_popularity.get(i, 0) for i in top], dtype=np.float64)
        values.append(float(np.mean(-np.log2(np.maximum(pops, 1.0) / n_users))))
    return _result(values)


def serendipity(recommended: RankedLists, relevant: RelevantSets, expected_recs: RankedLists,
                k: int = 10) -> MetricResult:
    """Serendipity@k = |{i in L_u : i in R_u and i not in E_u}| / k per user (Ge et al. 2010, Murakami et al. 2008).

    ``E_u`` = ``expected_recs[u]`` (its first k) is what an obvious recommender would show the
    user, usually the popularity baseline's top-k for them; a hit the baseline would also have
    made is not serendipitous. Like Precision@k it divides by k, and users with no relevant items
    have no defined value (``nan``). (Microsoft Recommenders' ``serendipity`` is a different,
    similarity-based measure that ignores test relevance.)

    Example (hits 2 and 5; 2 was expected, 5 was not: 1 / 5):
        >>> serendipity([[1, 2, 3, 4, 5]], [{2, 5, 9}], expected_recs=[[1, 2, 3]], k=5).mean
        0.2
    """
    _check_aligned(recommended, expected_recs)
    values = []
    for (hits, n_rel), items, expected in zip(_hit_flags(recommended, relevant, k), recommended, expected_recs,
                                             strict=True):
        if not n_rel:
            values.append(np.nan)
            continue
        obvious = set(list(expected)[:k])
        top = list(items)[:k]
        values.append(sum(1 for hit, item in zip(hits, top, strict=True) if hit and item not in obvious) / k)
    return _result(values)


def rmse(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray) -> float:
    """Root mean squared error sqrt(mean((y_true - y_pred)^2)) of rating predictions.

    Example (errors 0.5 and 1: sqrt(1.25 / 2)):
        >>> round(rmse([3.0, 4.0], [2.5, 5.0]), 4)
        0.7906
    """
    true, pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if true.shape != pred.shape or true.size == 0:
        raise ValueError(f"need two non-empty arrays of one shape, got {true.shape} and {pred.shape}")
    return float(np.sqrt(np.mean((true - pred) ** 2)))


def mae(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray) -> float:
    """Mean absolute error mean(|y_true - y_pred|) of rating predictions.

    Example:
        >>> mae([3.0, 4.0], [2.5, 5.0])
        0.75
    """
    true, pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if true.shape != pred.shape or true.size == 0:
        raise ValueError(f"need two non-empty arrays of one shape, got {true.shape} and {pred.shape}")
    return float(np.mean(np.abs(true - pred)))


def mean_interval(values: MetricResult | np.ndarray, confidence: float = 0.95, n_resamples: int = 2000,
                  seed: int = 0) -> tuple[float, float, float]:
    """Mean of per-user values (NaN left out) with a percentile bootstrap confidence interval over users.

    Example:
        >>> mean, low, high = mean_interval(np.array([0.0, 1.0] * 50))
        >>> round(mean, 2), low < 0.5 < high
        (0.5, True)
    """
    x = np.asarray(values.per_user if isinstance(values, MetricResult) else values, dtype=np.float64)
    return paired_difference(x, np.zeros_like(x), confidence, n_resamples, seed)


def paired_difference(a: MetricResult | np.ndarray, b: MetricResult | np.ndarray, confidence: float = 0.95,
                      n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean per-user difference ``a - b`` of one metric for two systems on the same users, with a percentile
    bootstrap confidence interval over users (``scipy.stats.bootstrap``); users undefined in either are left out.

    Example:
        >>> diff, low, high = paired_difference(np.array([0.5, 0.6, 0.7, np.nan]), np.array([0.4, 0.5, 0.6, 0.1]))
        >>> round(diff, 3), round(low, 3), round(high, 3)
        (0.1, 0.1, 0.1)
    """
    from scipy.stats import bootstrap

    x = np.asarray(a.per_user if isinstance(a, MetricResult) else a, dtype=np.float64)
    y = np.asarray(b.per_user if isinstance(b, MetricResult) else b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired_difference needs the same users on both sides, got {x.shape} and {y.shape}")
    d = (x - y)[~np.isnan(x) & ~np.isnan(y)]
    if len(d) < 2:
        return float(d.mean()) if len(d) else float("nan"), float("nan"), float("nan")
    if np.all(d == d[0]):  # no spread: the interval is the value itself
        return float(d[0]), float(d[0]), float(d[0])
    ci = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                   rng=np.random.default_rng(seed)).confidence_interval
    return float(d.mean()), float(ci.low), float(ci.high)
