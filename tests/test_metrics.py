"""Metric functions against hand-computed values, edge cases, and an independent brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.evaluation.metrics import (
    MetricResult,
    catalog_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    mae,
    map_at_k,
    ndcg_at_k,
    novelty,
    paired_difference,
    precision_at_k,
    recall_at_k,
    rmse,
    serendipity,
)

# The shared 5-item example: hits at ranks 2 and 5, and one relevant item (9) never recommended.
RECS = [[1, 2, 3, 4, 5]]
RELEVANT = [{2, 5, 9}]
LOG2 = math.log2


class TestHandComputed:
    def test_precision(self) -> None:
        assert precision_at_k(RECS, RELEVANT, k=5).mean == pytest.approx(2 / 5)
        assert precision_at_k(RECS, RELEVANT, k=2).mean == pytest.approx(1 / 2)

    def test_recall(self) -> None:
        assert recall_at_k(RECS, RELEVANT, k=5).mean == pytest.approx(2 / 3)
        assert recall_at_k(RECS, RELEVANT, k=1).mean == 0.0

    def test_hit_rate(self) -> None:
        assert hit_rate_at_k(RECS, RELEVANT, k=5).mean == 1.0
        assert hit_rate_at_k(RECS, RELEVANT, k=1).mean == 0.0

    def test_ndcg(self) -> None:
        dcg = 1 / LOG2(3) + 1 / LOG2(6)
        idcg = 1 + 1 / LOG2(3) + 1 / LOG2(4)
        assert ndcg_at_k(RECS, RELEVANT, k=5).mean == pytest.approx(dcg / idcg)
        assert ndcg_at_k(RECS, RELEVANT, k=5).mean == pytest.approx(0.477623, abs=1e-6)

    def test_ndcg_ideal_is_capped_at_k(self) -> None:
        # 3 relevant items but k = 2: IDCG has two terms, so a perfect top-2 scores 1
        assert ndcg_at_k([[2, 5, 1]], RELEVANT, k=2).mean == pytest.approx(1.0)

    def test_map_divides_by_min_relevant_k(self) -> None:
        assert map_at_k(RECS, RELEVANT, k=5).mean == pytest.approx((1 / 2 + 2 / 5) / 3)
        # k = 2 < |R| = 3: divide by 2, so a perfect top-2 gets AP 1, not 2/3
        assert map_at_k([[2, 5, 1]], RELEVANT, k=2).mean == pytest.approx(1.0)
        assert map_at_k(RECS, RELEVANT, k=2).mean == pytest.approx((1 / 2) / 2)

    def test_coverage(self) -> None:
        assert catalog_coverage([[1, 2, 3, 4, 5], [4, 5, 6, 7, 8]], n_items=16) == pytest.approx(8 / 16)
        assert catalog_coverage([[1, 2, 3, 4, 5], [4, 5, 6, 7, 8]], n_items=16, k=2) == pytest.approx(4 / 16)

    def test_intra_list_diversity(self) -> None:
        vectors = {1: np.array([1.0, 0.0]), 2: np.array([0.0, 1.0]), 3: np.array([1.0, 1.0]),
                   4: np.array([2.0, 0.0]), 5: np.array([0.0, 3.0])}
        # pairs: (1,2)=1, (1,3)=(2,3)=1-1/sqrt2, (1,4)=0, (1,5)=1, (2,3)=.., (2,4)=1, (2,5)=0,
        # (3,4)=(3,5)=1-1/sqrt2, (4,5)=1
        d = 1 - 1 / math.sqrt(2)
        expected = (1 + d + 0 + 1 + d + 1 + 0 + d + d + 1) / 10
        assert intra_list_diversity(RECS, vectors).mean == pytest.approx(expected)

    def test_intra_list_diversity_array_and_identical_items(self) -> None:
        vectors = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
        assert intra_list_diversity([[0, 1]], vectors).mean == pytest.approx(0.0)
        assert intra_list_diversity([[0, 2]], vectors).mean == pytest.approx(1.0)

    def test_novelty(self) -> None:
        popularity = {1: 16, 2: 8, 3: 4, 4: 2, 5: 1}
        # 32 users: 1, 2, 3, 4, 5 bits
        assert novelty(RECS, popularity, n_users=32).mean == pytest.approx(3.0)
        assert novelty(RECS, popularity, n_users=32, k=2).mean == pytest.approx(1.5)

    def test_novelty_unseen_item_counts_as_one_user(self) -> None:
        assert novelty([[99]], {}, n_users=8).mean == pytest.approx(3.0)
        assert novelty([[0, 1]], np.array([8, 0]), n_users=8).mean == pytest.approx(1.5)

    def test_serendipity(self) -> None:
        # hits 2 and 5; the popularity list expected 2, so only 5 is a serendipitous hit
        assert serendipity(RECS, RELEVANT, expected_recs=[[2, 7, 8]], k=5).mean == pytest.approx(1 / 5)
        assert serendipity(RECS, RELEVANT, expected_recs=[[2, 5]], k=5).mean == 0.0
        assert serendipity(RECS, RELEVANT, expected_recs=[[]], k=5).mean == pytest.approx(2 / 5)

    def test_rmse_mae(self) -> None:
        y, p = [1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.0, 2.0, 4.0, 3.0]
        assert rmse(y, p) == pytest.approx(math.sqrt((0.25 + 0 + 1 + 0 + 4) / 5))
        assert mae(y, p) == pytest.approx((0.5 + 0 + 1 + 0 + 2) / 5)


class TestEdgeCases:
    def test_user_without_relevant_items_is_left_out(self) -> None:
        result = ndcg_at_k([[1, 2, 3, 4, 5], [1, 2]], [{2, 5, 9}, set()], k=5)
        assert isinstance(result, MetricResult)
        assert math.isnan(result.per_user[1])
        assert result.mean == pytest.approx(result.per_user[0])
        for metric in (precision_at_k, recall_at_k, map_at_k, hit_rate_at_k):
            r = metric([[1, 2, 3, 4, 5], [1, 2]], [{2, 5, 9}, set()], k=5)
            assert math.isnan(r.per_user[1]) and r.mean == pytest.approx(r.per_user[0])

    def test_no_user_has_relevant_items(self) -> None:
        for metric in (precision_at_k, recall_at_k, ndcg_at_k, map_at_k, hit_rate_at_k):
            assert math.isnan(metric([[1, 2]], [set()], k=2).mean)

    def test_fewer_than_k_recommendations(self) -> None:
        recs, relevant = [[2, 5]], [{2, 5, 9}]
        assert precision_at_k(recs, relevant, k=5).mean == pytest.approx(2 / 5)  # still divided by k
        assert recall_at_k(recs, relevant, k=5).mean == pytest.approx(2 / 3)
        assert ndcg_at_k(recs, relevant, k=5).mean == pytest.approx(
            (1 + 1 / LOG2(3)) / (1 + 1 / LOG2(3) + 1 / LOG2(4)))
        assert map_at_k(recs, relevant, k=5).mean == pytest.approx(2 / 3)
        assert hit_rate_at_k(recs, relevant, k=5).mean == 1.0

    def test_empty_recommendations(self) -> None:
        assert precision_at_k([[]], [{1}], k=3).mean == 0.0
        assert ndcg_at_k([[]], [{1}], k=3).mean == 0.0
        assert map_at_k([[]], [{1}], k=3).mean == 0.0
        assert math.isnan(novelty([[]], {}, n_users=4).mean)
        assert math.isnan(intra_list_diversity([[1]], {1: np.ones(2)}).mean)

    def test_perfect_ranking_scores_one(self) -> None:
        recs, relevant = [[3, 1, 2, 7]], [{1, 2, 3}]
        for metric in (recall_at_k, ndcg_at_k, map_at_k, hit_rate_at_k):
            assert metric(recs, relevant, k=3).mean == pytest.approx(1.0)

    def test_numpy_inputs(self) -> None:
        recs = np.array([[1, 2, 3, 4, 5]])
        assert ndcg_at_k(recs, RELEVANT, k=5).mean == pytest.approx(ndcg_at_k(RECS, RELEVANT, k=5).mean)

    def test_bad_inputs_raise(self) -> None:
        with pytest.raises(ValueError, match="aligned"):
            ndcg_at_k([[1], [2]], [{1}], k=1)
        with pytest.raises(ValueError, match="repeats"):
            precision_at_k([[1, 1]], [{1}], k=2)
        with pytest.raises(ValueError, match="k must"):
            recall_at_k([[1]], [{1}], k=0)
        with pytest.raises(ValueError):
            rmse([1.0], [1.0, 2.0])
        with pytest.raises(ValueError):
            catalog_coverage([[1]], n_items=0)


def _reference(recs: list[int], relevant: set[int], k: int) -> dict[str, float]:
    """A deliberately naive, loop-by-rank implementation of the documented definitions."""
    top = recs[:k]
    hits = 0
    dcg = 0.0
    ap = 0.0
    for rank, item in enumerate(top, start=1):
        if item in relevant:
            hits += 1
            dcg += 1 / math.log(1 + rank)  # natural log, as recommenders does: the ratio is the same
            ap += hits / rank
    idcg = sum(1 / math.log(1 + r) for r in range(1, min(len(relevant), k) + 1))
    return {"precision": hits / k, "recall": hits / len(relevant), "ndcg": dcg / idcg,
            "map": ap / min(len(relevant), k), "hit_rate": float(hits > 0)}


def test_metrics_agree_with_naive_reference_on_random_lists() -> None:
    rng = np.random.default_rng(0)
    recs, relevant = [], []
    for _ in range(200):
        recs.append(rng.permutation(50)[: rng.integers(0, 15)].tolist())
        relevant.append(set(rng.choice(50, size=rng.integers(1, 20), replace=False).tolist()))
    for k in (1, 5, 10):
        expected = [_reference(r, s, k) for r, s in zip(recs, relevant, strict=True)]
        for name, metric in (("precision", precision_at_k), ("recall", recall_at_k), ("ndcg", ndcg_at_k),
                             ("map", map_at_k), ("hit_rate", hit_rate_at_k)):
            got = metric(recs, relevant, k=k)
            np.testing.assert_allclose(got.per_user, [e[name] for e in expected], rtol=1e-12, err_msg=name)
            assert got.mean == pytest.approx(np.mean([e[name] for e in expected]))


def test_docstring_examples() -> None:
    import doctest

    import recommender.evaluation.metrics

    assert doctest.testmod(recommender.evaluation.metrics, raise_on_error=False).failed == 0


def test_paired_difference_interval_covers_a_known_shift() -> None:
    rng = np.random.default_rng(3)
    base = rng.random(2000)
    diff, low, high = paired_difference(base + 0.02 + 0.05 * rng.standard_normal(2000), base)
    assert low < 0.02 < high and low < diff < high
    assert high - low < 0.01  # 2000 users pin a mean shift of noise 0.05 to about +-0.002


def test_paired_difference_leaves_out_users_undefined_on_either_side() -> None:
    a = MetricResult(np.array([1.0, np.nan, 0.0, 0.7]), 0.57)
    b = MetricResult(np.array([0.5, 0.2, np.nan, 0.2]), 0.3)
    assert paired_difference(a, b) == pytest.approx((0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="same users"):
        paired_difference(np.zeros(3), np.zeros(4))
