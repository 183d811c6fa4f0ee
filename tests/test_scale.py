"""What lets cinefuse run at ML-32M's size, checked on small sets: the synthetic release's shape and structure, the
sparse item-kNN against a dense reference, EASE on the most-rated movies against dense EASE, and the sampled
evaluation. (Times and memory at full size are measured by benchmarks/scale.py, not here.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix

from benchmarks.synth import HALF_STARS_FROM, generate
from index.sources import load_movielens
from recommender.evaluation.metrics import ndcg_at_k
from recommender.evaluation.protocol import evaluate_model, rank_test_users, split_protocol
from recommender.ranking.collaborative import EASEModel, ItemKNNModel, PopularityModel, most_rated_columns
from recommender.ranking.interactions import Interactions

RATINGS, USERS, MOVIES = 60_000, 1_000, 2_000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ml-synth"
    generate(out, ratings=RATINGS, users=USERS, movies=MOVIES, seed=7, block_ratings=10_000)
    return out


@pytest.fixture(scope="module")
def ratings(synthetic: Path) -> pd.DataFrame:
    return load_movielens(synthetic).ratings


def test_synthetic_release_has_the_requested_shape(synthetic: Path, ratings: pd.DataFrame) -> None:
    data = load_movielens(synthetic)  # the real MovieLens reader accepts it
    stats = json.loads((synthetic / "stats.json").read_text())
    assert abs(len(ratings) - RATINGS) <= 0.01 * RATINGS and stats["ratings"] == len(ratings)
    assert ratings["user_id"].nunique() == USERS and len(data.movies) == MOVIES == len(data.links)
    assert not ratings.duplicated(["user_id", "movie_id"]).any()
    assert ratings.groupby("user_id").size().min() >= 20  # MovieLens keeps people with 20 ratings or more
    assert set(np.unique(ratings["rating"])) <= set(np.arange(1, 11) / 2)
    assert len(data.tags) > 0 and data.tags["movie_id"].isin(data.movies["movie_id"]).all()
    order = ratings[["user_id", "movie_id"]].to_numpy()
    assert (np.diff(order[:, 0]) >= 0).all()  # sorted by person, then movie, like MovieLens' files


def test_synthetic_release_looks_like_movielens(synthetic: Path, ratings: pd.DataFrame) -> None:
    movies = load_movielens(synthetic).movies.set_index("movie_id")
    per_movie = ratings["movie_id"].value_counts()
    top = per_movie.iloc[: MOVIES // 100].sum() / len(ratings)
    assert top > 0.05 and per_movie.iloc[0] > 10 * per_movie.median()  # power-law popularity
    per_user = ratings.groupby("user_id").size()
    assert per_user.max() > 4 * per_user.median()  # a long tail of heavy raters
    shares = ratings["rating"].value_counts(normalize=True)
    assert shares[4.0] == shares.max() and shares[0.5] < 0.03  # 4 stars the commonest, as in ML-32M
    early = ratings[ratings["timestamp"] < HALF_STARS_FROM]
    assert len(early) and (early["rating"] % 1 == 0).all()  # no half stars before MovieLens had them
    released = pd.to_datetime(movies.loc[ratings["movie_id"], "year"].astype(int).astype(str)).to_numpy()
    assert (pd.to_datetime(ratings["timestamp"], unit="s").to_numpy() >= released).all()


def test_synthetic_release_is_seeded(tmp_path: Path, synthetic: Path) -> None:
    generate(tmp_path / "again", ratings=RATINGS, users=USERS, movies=MOVIES, seed=7, block_ratings=10_000)
    for name in ("ratings.csv", "movies.csv", "tags.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (synthetic / name).read_bytes()


def test_synthetic_tastes_are_learnable(ratings: pd.DataFrame) -> None:
    """Collaborative models find the taste structure: item-kNN and EASE beat popularity (on this small set: at 1M
    ratings the gap is 0.15 vs 0.26-0.29 nDCG@10, see the README's Scale section)."""
    train, test = split_protocol(ratings, "B")
    popularity = evaluate_model(PopularityModel(), train, test)["ndcg@10"]
    knn = evaluate_model(ItemKNNModel(), train, test, weighting="rating")["ndcg@10"]
    ease = evaluate_model(EASEModel(l2=50.0), train, test)["ndcg@10"]
    assert knn > 1.05 * popularity and ease > 1.15 * popularity


def test_sparse_knn_matches_dense_reference_with_shrinkage() -> None:
    rng = np.random.default_rng(3)
    dense = (rng.random((80, 40)) < 0.2) * rng.integers(1, 11, (80, 40)) / 2.0
    x = csr_matrix(dense.astype(np.float32))
    model = ItemKNNModel(k_neighbours=5, shrinkage=4.0, block_size=7)  # several blocks
    model.fit(x)
    assert model.similarity is not None
    norms = np.linalg.norm(dense, axis=0)
    cos = dense.T @ dense / np.outer(norms, norms)
    counts = (dense > 0).T.astype(float) @ (dense > 0).astype(float)
    shrunk = cos * counts / (counts + 4.0)
    np.fill_diagonal(shrunk, 0.0)
    reference = np.zeros_like(shrunk)
    for i in range(40):
        keep = np.argsort(-shrunk[i], kind="stable")[:5]
        reference[i, keep] = shrunk[i, keep]
    np.testing.assert_allclose(model.similarity.toarray(), reference, atol=1e-5)
    assert model.similarity.nnz <= 5 * 40  # k per movie: linear in movies, not quadratic
    np.testing.assert_allclose(model.score(x[:3]), dense[:3] @ reference, rtol=1e-4, atol=1e-5)


def test_ease_on_most_rated_movies_equals_dense_when_everything_fits() -> None:
    rng = np.random.default_rng(1)
    x = csr_matrix((rng.random((60, 30)) < 0.3).astype(np.float32))
    dense, capped = EASEModel(l2=10.0), EASEModel(l2=10.0, max_items=30)
    dense.fit(x)
    capped.fit(x)
    assert capped.columns is None
    np.testing.assert_allclose(capped.score(x[:5]), dense.score(x[:5]), rtol=1e-5, atol=1e-6)


def test_ease_inverse_is_exact_in_place() -> None:
    rng = np.random.default_rng(2)
    x = csr_matrix((rng.random((200, 50)) < 0.2).astype(np.float32))
    gram = (x.T @ x).toarray().astype(np.float64) + 5.0 * np.eye(50)
    p = np.linalg.inv(gram)
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    model = EASEModel(l2=5.0)
    model.fit(x)
    assert model.weights is not None
    np.testing.assert_allclose(model.weights, expected, atol=2e-4)


#: how close EASE on the most-rated movies must stay to dense EASE on a power-law set where the kept movies hold
#: about 90% of the ratings: nDCG@10 within 0.01, and 8.5 of each person's top 10 shared on average
NDCG_TOLERANCE, OVERLAP = 0.01, 0.85


def test_ease_on_most_rated_movies_matches_dense_ease(ratings: pd.DataFrame) -> None:
    train, test = split_protocol(ratings, "A")
    inter = Interactions.from_ratings(train, weighting="binary")
    keep = 700
    share = np.bincount(inter.matrix.indices)[most_rated_columns(inter.matrix, keep)].sum() / inter.matrix.nnz
    assert 0.8 < share < 0.97  # the tail left out is real
    dense = rank_test_users(EASEModel(l2=50.0), train, test, 10)
    capped_model = EASEModel(l2=50.0, max_items=keep)
    capped = rank_test_users(capped_model, train, test, 10)
    assert capped_model.columns is not None and len(capped_model.columns) == keep
    assert np.isin(capped.ranked, capped_model.columns).all()  # movies left out are never recommended
    gap = ndcg_at_k(dense.ranked, dense.relevant).mean - ndcg_at_k(capped.ranked, capped.relevant).mean
    assert abs(gap) <= NDCG_TOLERANCE
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(dense.ranked, capped.ranked, strict=True)])
    assert overlap >= OVERLAP


def test_sampled_evaluation_ranks_the_same_seeded_people(ratings: pd.DataFrame) -> None:
    train, test = split_protocol(ratings, "A")
    full = rank_test_users(PopularityModel(), train, test, 10)
    sample = rank_test_users(PopularityModel(), train, test, 10, sample_users=50, seed=3)
    again = rank_test_users(ItemKNNModel(), train, test, 10, sample_users=50, seed=3, weighting="rating")
    assert len(sample.users) == 50 and set(sample.users) <= set(full.users)
    assert (again.users == sample.users).all()  # every model is scored on the same people: they pair up
    where = np.searchsorted(full.users, sample.users)
    np.testing.assert_array_equal(sample.ranked, full.ranked[where])
    assert [sample.relevant[i] for i in range(50)] == [full.relevant[j] for j in where]
    other = rank_test_users(PopularityModel(), train, test, 10, sample_users=50, seed=4)
    assert set(other.users) != set(sample.users)
    assert len(rank_test_users(PopularityModel(), train, test, 10, sample_users=10**6).users) == len(full.users)


def test_fusion_uses_ease_on_most_rated_movies_above_the_limit(ratings: pd.DataFrame,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import recommender.ranking.fusion as fusion
    from recommender.evaluation.experiments import evaluate_protocol

    movies = np.sort(ratings["movie_id"].unique())
    items = fusion.ItemTable.from_payloads({int(m): {"genres": ["Drama"], "year": 2000} for m in movies}, {})
    monkeypatch.setattr(fusion, "EASE_MAX_ITEMS", 500)
    frame = evaluate_protocol(ratings, items, "A", only=["popularity", "fusion (trained ranker)"], sample_users=200,
                              rating_error=False)
    assert frame.attrs["users"] == 200
    mean, low, high = frame.attrs["intervals"]["fusion (trained ranker)"]
    assert low <= mean <= high and mean == pytest.approx(frame.loc["fusion (trained ranker)", "ndcg@10"], abs=1e-4)
    model = fusion.FusionModel(items, validation="A", max_training_users=40, few_shot_folds=0)  # A's own fold only
    model.fit_frame(ratings, Interactions.from_ratings(ratings, item_ids=items.item_ids, weighting="confidence"))
    assert model.ease is not None and model.ease.columns is not None and len(model.ease.columns) == 500
    assert model.training_summary["people"] == 40 and model.training_summary["rows"] > 0
    history = model._histories[int(ratings["user_id"].iloc[0])]
    feats = model.features(history)
    ease = feats[:, fusion.FEATURES.index("ease")]
    outside = np.setdiff1d(np.arange(len(movies)), model.ease.columns)
    assert model.inter is not None
    unseen = np.setdiff1d(model.ease.columns, np.flatnonzero(np.isin(model.inter.item_ids, history.movie_ids)))
    assert np.isnan(ease[outside]).all() and np.isfinite(ease[unseen]).all()


def test_unshrunk_knn_through_implicit_matches_the_blocked_computation() -> None:
    rng = np.random.default_rng(5)
    dense = (rng.random((120, 60)) < 0.15) * rng.random((120, 60)).astype(np.float32)
    dense[:, 7] = 0.0  # a movie nobody rated: no neighbours, and nobody's neighbour
    x = csr_matrix(dense.astype(np.float32))
    fast = ItemKNNModel(k_neighbours=6, shrinkage=0.0, fast=True)
    fast.fit(x)
    assert fast.similarity is not None
    norms = np.linalg.norm(dense, axis=0)
    cos = dense.T @ dense / np.outer(np.where(norms > 0, norms, 1), np.where(norms > 0, norms, 1))
    np.fill_diagonal(cos, 0.0)
    reference = np.zeros_like(cos)
    for i in range(60):
        keep = np.argsort(-cos[i])[:6]
        reference[i, keep] = cos[i, keep]
    np.testing.assert_allclose(fast.similarity.toarray(), reference, atol=1e-5)
    assert fast.similarity[7].nnz == 0 and fast.similarity[:, 7].nnz == 0


def test_fast_knn_with_shrinkage_is_exact_on_binary_weights() -> None:
    """0/1 weights make the estimated co-occurrence counts exact; with every movie a candidate (8 x 5 + 1 >= 40)
    the fast path must give the blocked computation's answer."""
    rng = np.random.default_rng(9)
    x = csr_matrix((rng.random((150, 40)) < 0.2).astype(np.float32))
    exact, fast = ItemKNNModel(k_neighbours=5, fast=False), ItemKNNModel(k_neighbours=5, fast=True)
    exact.fit(x)
    fast.fit(x)
    assert exact.similarity is not None and fast.similarity is not None
    np.testing.assert_allclose(fast.similarity.toarray(), exact.similarity.toarray(), atol=1e-5)
