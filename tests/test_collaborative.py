"""One shared contract run against every collaborative model (implicit-style), known-answer tests on
a two-cluster matrix, model-specific checks against numpy references, and the harness on real data."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_array, csr_matrix

from recommender.evaluation.metrics import mae, rmse
from recommender.evaluation.protocol import BASELINES, evaluate_model, run_baselines, to_markdown
from recommender.ranking.collaborative import (
    ALSModel,
    BiasedMF,
    CollaborativeModel,
    EASEModel,
    ItemKNNModel,
    ModelNotFitted,
    PopularityModel,
    RecommenderBase,
    top_n,
)
from recommender.ranking.interactions import Interactions
from recommender.ranking.splits import split_random

# Two clusters: users 0-9 like items 0-7 (cluster A); users 10-23 like items 8-15 (cluster B).
# B has more users, so B items are the most *popular*: only a personalised model puts A first for A users.
N_A_USERS, N_B_USERS, N_ITEMS, A_ITEMS = 10, 14, 16, set(range(8))


def _cluster_matrix(seed: int = 0) -> csr_matrix:
    """Each user likes each item of their own cluster independently with probability 0.6, nothing else."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((N_A_USERS + N_B_USERS, N_ITEMS), dtype=np.float32)
    for user in range(N_A_USERS + N_B_USERS):
        block = np.arange(0, 8) if user < N_A_USERS else np.arange(8, 16)
        dense[user, block] = rng.random(8) < 0.6
    return csr_matrix(dense)


@pytest.fixture(scope="module")
def cluster_matrix() -> csr_matrix:
    return _cluster_matrix()


def _new_user_row(items: list[int]) -> csr_matrix:
    row = np.zeros((1, N_ITEMS), dtype=np.float32)
    row[0, items] = 1.0
    return csr_matrix(row)


class CollaborativeContract:
    """The checks every model must pass. Subclasses set ``make_model``; ``prepare`` reweights the matrix."""

    @classmethod
    def make_model(cls) -> RecommenderBase:
        raise NotImplementedError

    @classmethod
    def prepare(cls, matrix: csr_matrix) -> csr_matrix:
        return matrix

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, cluster_matrix: csr_matrix) -> tuple[RecommenderBase, csr_matrix]:
        """Fitted once per model class: no test mutates the model."""
        matrix = cls.prepare(cluster_matrix)
        model = cls.make_model()
        model.fit(matrix)
        return model, matrix

    def test_follows_protocol(self) -> None:
        assert isinstance(self.make_model(), CollaborativeModel)

    def test_score_shape_and_dtype(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, matrix = fitted
        scores = model.score(matrix[:3])
        assert scores.shape == (3, N_ITEMS) and scores.dtype == np.float32
        assert np.isfinite(scores).all()

    def test_recommend_single_user(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, matrix = fitted
        ids, scores = model.recommend(0, N=4)
        assert ids.shape == scores.shape == (4,)
        assert np.all(np.diff(scores) <= 0)
        assert not set(ids) & set(matrix[0].indices)

    def test_unfiltered_and_filter_items(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, _ = fitted
        ids, _ = model.recommend(0, N=N_ITEMS, filter_already_liked_items=False)
        assert sorted(ids) == list(range(N_ITEMS))
        ids, _ = model.recommend(0, N=N_ITEMS, filter_already_liked_items=False, filter_items=np.array([3, 9]))
        assert len(ids) == N_ITEMS - 2 and not {3, 9} & set(ids)

    def test_n_larger_than_catalog(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, matrix = fitted
        ids, _ = model.recommend(0, N=100)
        assert len(ids) == N_ITEMS - matrix[0].nnz

    def test_batch_matches_single(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, _ = fitted
        batch_ids, batch_scores = model.recommend(np.array([0, 5, 12]), N=3)
        assert batch_ids.shape == (3, 3)
        for row, user in enumerate([0, 5, 12]):
            _, scores = model.recommend(user, N=3)
            np.testing.assert_allclose(batch_scores[row], scores, rtol=1e-5, atol=1e-6)

    def test_history_row_equals_training_user(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, matrix = fitted
        by_index = model.recommend(7, N=3)
        by_row = model.recommend(matrix[7], N=3)
        np.testing.assert_allclose(by_index[1], by_row[1], rtol=1e-5, atol=1e-6)
        by_array = model.recommend(csr_array(matrix[7]), N=3)  # scipy's sparse arrays work too
        np.testing.assert_allclose(by_index[1], by_array[1], rtol=1e-5, atol=1e-6)

    def test_empty_history(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, _ = fitted
        ids, _ = model.recommend(csr_matrix((1, N_ITEMS), dtype=np.float32), N=3)
        assert len(ids) <= 3

    def test_errors(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        with pytest.raises(ModelNotFitted, match="fit"):
            self.make_model().score(csr_matrix((1, N_ITEMS), dtype=np.float32))
        model, _ = fitted
        with pytest.raises(ValueError, match="columns"):
            model.score(csr_matrix((1, N_ITEMS + 1), dtype=np.float32))


class PersonalisedContract(CollaborativeContract):
    """Known answers on the two-cluster matrix, for every model that personalises (all but popularity)."""

    def test_cluster_users_get_their_cluster(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, matrix = fitted
        for user in range(N_A_USERS + N_B_USERS):
            cluster = A_ITEMS if user < N_A_USERS else set(range(8, 16))
            unseen_in_cluster = len(cluster - set(matrix[user].indices))
            ids, _ = model.recommend(user, N=unseen_in_cluster)
            assert set(ids) <= cluster, (user, ids)

    def test_new_user_with_three_liked_items(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, _ = fitted
        history = self.prepare(_new_user_row([0, 3, 5]))
        ids, _ = model.recommend(history, N=5)
        assert set(ids) == A_ITEMS - {0, 3, 5}


class TestPopularity(CollaborativeContract):
    @classmethod
    def make_model(cls) -> RecommenderBase:
        return PopularityModel()

    def test_known_answer(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, matrix = fitted
        counts = np.asarray((matrix > 0).sum(axis=0)).ravel()
        ids, scores = model.recommend(_new_user_row([0, 3, 5]), N=3)
        np.testing.assert_array_equal(scores, np.sort(counts)[::-1][:3])
        assert set(ids) <= set(range(8, 16))  # the bigger cluster's items are the most popular


class TestItemKNN(PersonalisedContract):
    @classmethod
    def make_model(cls) -> RecommenderBase:
        return ItemKNNModel(k_neighbours=10)

    def test_similarity_matches_numpy_reference(self, cluster_matrix: csr_matrix) -> None:
        x = cluster_matrix.toarray().astype(np.float64)
        x[0, 0] = 3.0  # non-binary weights too
        cos = x.T @ x / np.outer(np.linalg.norm(x, axis=0), np.linalg.norm(x, axis=0))
        np.fill_diagonal(cos, 0.0)
        model = ItemKNNModel(k_neighbours=3, shrinkage=0.0, block_size=5)  # several blocks
        model.fit(csr_matrix(x))
        assert model.similarity is not None
        sim = model.similarity.toarray()
        assert ((sim > 0).sum(axis=1) <= 3).all()
        for item in range(N_ITEMS):
            kept = np.flatnonzero(sim[item])
            np.testing.assert_allclose(sim[item, kept], cos[item, kept], rtol=1e-5)
            # nothing dropped beats anything kept
            dropped = np.setdiff1d(np.arange(N_ITEMS), np.r_[kept, item])
            assert cos[item, dropped].max(initial=0) <= sim[item, kept].min() + 1e-6

    def test_shrinkage(self) -> None:
        x = csr_matrix(np.array([[1, 1], [1, 1], [1, 0]], dtype=np.float32))
        model = ItemKNNModel(k_neighbours=1, shrinkage=2.0)
        model.fit(x)
        cos = 2 / (np.sqrt(3) * np.sqrt(2))
        assert model.similarity is not None
        assert model.similarity[0, 1] == pytest.approx(cos * 2 / (2 + 2.0), rel=1e-5)


class TestEASE(PersonalisedContract):
    @classmethod
    def make_model(cls) -> RecommenderBase:
        return EASEModel(l2=50.0)  # a strong prior towards co-occurrence on 24 users

    def test_weights_match_closed_form(self, cluster_matrix: csr_matrix) -> None:
        rng = np.random.default_rng(1)
        x = (rng.random((40, 12)) < 0.3).astype(np.float64)
        p = np.linalg.inv(x.T @ x + 5.0 * np.eye(12))
        expected = np.eye(12) - p / np.diag(p)
        np.fill_diagonal(expected, 0.0)
        model = EASEModel(l2=5.0)
        model.fit(csr_matrix(x))
        assert model.weights is not None
        np.testing.assert_allclose(model.weights, expected, atol=1e-5)


class TestALS(PersonalisedContract):
    @classmethod
    def make_model(cls) -> RecommenderBase:
        return ALSModel(factors=2, regularization=0.1, iterations=20)  # one factor per cluster

    @classmethod
    def prepare(cls, matrix: csr_matrix) -> csr_matrix:
        return matrix * 5.0  # the confidence of a 5-star rating with alpha 4

    def test_item_factors(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, _ = fitted
        assert isinstance(model, ALSModel)
        assert model.item_factors.shape == (N_ITEMS, 2) and model.item_factors.dtype == np.float32

    def test_fold_in_of_training_row_matches_learned_factors(self,
                                                             fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, matrix = fitted
        assert isinstance(model, ALSModel)
        folded = model.fold_in(matrix[:5])
        learned = model.user_factors[:5]
        cos = np.sum(folded * learned, axis=1) / (np.linalg.norm(folded, axis=1) * np.linalg.norm(learned, axis=1))
        assert (cos > 0.99).all()

    def test_fold_in_brand_new_user(self, fitted: tuple[RecommenderBase, csr_matrix]) -> None:
        model, _ = fitted
        assert isinstance(model, ALSModel)
        vector = model.fold_in(self.prepare(_new_user_row([1, 2, 6])))
        assert vector.shape == (1, 2) and np.isfinite(vector).all()
        scores = vector @ model.item_factors.T
        top = np.argsort(-scores[0])[:8]
        assert set(top) == A_ITEMS

    def test_no_blas_threadpool_warning(self, cluster_matrix: csr_matrix) -> None:
        import implicit.utils

        implicit.utils._checked_blas_config = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ALSModel(factors=4, iterations=2).fit(cluster_matrix)
        assert not [w for w in caught if "threadpool" in str(w.message)]


def test_top_n_ties_and_small_rows() -> None:
    ids, scores = top_n(np.array([[1.0, 3.0, 2.0]]), 5)
    assert ids.tolist() == [[1, 2, 0]] and scores.tolist() == [[3.0, 2.0, 1.0]]


class TestInteractions:
    def test_weightings(self) -> None:
        df = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 20, 20], "rating": [5.0, 2.5, 1.0]})
        assert Interactions.from_ratings(df, weighting="binary").matrix.toarray().tolist() == [[1, 1], [0, 1]]
        assert Interactions.from_ratings(df, weighting="rating").matrix.toarray().tolist() == [[5, 2.5], [0, 1]]
        conf = Interactions.from_ratings(df, weighting="confidence", alpha=10.0).matrix.toarray()
        np.testing.assert_allclose(conf, [[11, 6], [0, 3]])
        assert conf.dtype == np.float32

    def test_fixed_items_duplicates_and_maps(self) -> None:
        df = pd.DataFrame({"user_id": [1, 1, 1], "movie_id": [10, 10, 99], "rating": [2.0, 4.0, 5.0],
                           "timestamp": [2, 1, 3]})
        x = Interactions.from_ratings(df, item_ids=[30, 10], weighting="rating")
        assert x.matrix.toarray().tolist() == [[0.0, 2.0]]  # 99 dropped; latest rating of 10 (t=2) kept
        assert x.item_index == {30: 0, 10: 1} and x.user_index == {1: 0}
        assert x.history_row([10, 30], [1.0, 3.0]).toarray().tolist() == [[3.0, 1.0]]
        assert x.rows([1]).toarray().tolist() == [[0.0, 2.0]]

    def test_missing_column(self) -> None:
        with pytest.raises(ValueError, match="rating"):
            Interactions.from_ratings(pd.DataFrame({"user_id": [1], "movie_id": [2]}))


class TestBiasedMF:
    def test_recovers_low_rank_ratings(self) -> None:
        rng = np.random.default_rng(0)
        users, items = 200, 100
        p, q = rng.normal(0, 0.7, (users, 3)), rng.normal(0, 0.7, (items, 3))
        truth = 3.5 + rng.normal(0, 0.3, users)[:, None] + rng.normal(0, 0.3, items)[None, :] + p @ q.T
        u, i = np.nonzero(rng.random((users, items)) < 0.3)
        df = pd.DataFrame({"user_id": u, "movie_id": i, "rating": np.clip(truth[u, i], 0.5, 5.0), "timestamp": 0})
        train, test = split_random(df, frac=0.2)
        model = BiasedMF(factors=3, reg_factors=0.02, iterations=15).fit(train)
        pred = model.predict(test.user_id.to_numpy(), test.movie_id.to_numpy())
        baseline = np.full(len(test), train.rating.mean())
        assert rmse(test.rating, pred) < 0.5 * rmse(test.rating, baseline)
        assert mae(test.rating, pred) < mae(test.rating, baseline)

    def test_unknowns_fall_back_to_biases(self) -> None:
        df = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 20, 10], "rating": [5.0, 3.0, 4.0]})
        model = BiasedMF(factors=2).fit(df)
        known_item = model.predict([99], [10])[0]
        assert known_item == pytest.approx(model.global_mean + model.item_bias[model.item_index[10]])


@pytest.fixture(scope="module")
def ratings(shared_data: Path) -> pd.DataFrame:
    df = pd.read_csv(shared_data / "ml-latest-small" / "ratings.csv")
    return df.rename(columns={"userId": "user_id", "movieId": "movie_id"})


def test_harness_on_cluster_data() -> None:
    matrix = _cluster_matrix()
    u, i = matrix.nonzero()
    df = pd.DataFrame({"user_id": u, "movie_id": i, "rating": 5.0, "timestamp": np.arange(len(u))})
    train, test = split_random(df, frac=0.4, seed=0)
    ease = evaluate_model(EASEModel(l2=1.0), train, test, k=2, recall_k=3)
    popularity = evaluate_model(PopularityModel(), train, test, k=2, recall_k=3)
    assert ease["hit_rate@2"] > popularity["hit_rate@2"]
    assert ease["users"] == df.user_id.nunique()
    vectors = {m: np.eye(N_ITEMS)[m] for m in range(N_ITEMS)}
    assert evaluate_model(EASEModel(1.0), train, test, k=2, item_vectors=vectors)["diversity@2"] == pytest.approx(1.0)


@pytest.mark.slow
def test_harness_end_to_end_on_real_subset(ratings: pd.DataFrame) -> None:
    subset = ratings[ratings.user_id <= 150]
    started = time.perf_counter()
    results = run_baselines(subset, "A")
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"harness took {elapsed:.1f}s on 150 users"
    assert results.index.tolist() == list(BASELINES)
    assert (results["users"] == 150).all()
    for column in ("ndcg@10", "recall@20", "map@10", "precision@10", "recall@10", "hit_rate@10", "coverage@10"):
        assert results[column].between(0, 1).all(), column
    assert results.loc["EASE", "ndcg@10"] > results.loc["popularity", "ndcg@10"]
    assert results.loc["popularity", "serendipity@10"] == 0.0
    assert "| EASE |" in to_markdown(results)


@pytest.mark.slow
def test_biased_mf_rmse_on_real_data(ratings: pd.DataFrame) -> None:
    train, test = split_random(ratings, frac=0.25, seed=42)
    model = BiasedMF().fit(train)
    error = rmse(test.rating, model.predict(test.user_id.to_numpy(), test.movie_id.to_numpy()))
    assert error < 0.90


@pytest.mark.parametrize("module", ["recommender.ranking.collaborative", "recommender.ranking.interactions",
                                    "recommender.evaluation.protocol"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(module), raise_on_error=False).failed == 0
