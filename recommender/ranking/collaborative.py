"""Collaborative-filtering models behind one small interface, in the style of `implicit`.

Every model takes a CSR user x item matrix (see :class:`recommender.ranking.interactions.Interactions`):

* ``fit(user_items, show_progress=False)`` learns from the training rows;
* ``score(user_items)`` scores every item for each given *history row* (dense float32,
  rows x items), so a user need not have been in training: a new user is just a row;
* ``recommend(user, N=10, filter_already_liked_items=True)`` returns ``(ids, scores)``, ids being
  item (column) indices, best first, as `implicit` does.

Models: :class:`PopularityModel`, :class:`ItemKNNModel` (cosine item-item), :class:`EASEModel`
(Steck 2019, closed form), :class:`ALSModel` (implicit's ALS, with fold-in of new users) and,
for rating prediction rather than ranking, :class:`BiasedMF`.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np
import pandas as pd
from scipy.linalg import lapack
from scipy.sparse import csr_matrix, diags, issparse
from scipy.sparse import vstack as sparse_vstack
from threadpoolctl import ThreadpoolController

from index.errors import CinefuseError

log = logging.getLogger(__name__)

#: above this many movies EASE models only this many most-rated ones (its dense weights take 4 bytes x the square:
#: 0.4 GB), and the rest get no EASE score; see :class:`EASEModel`
EASE_MAX_ITEMS = 10_000

#: above this many movies item-kNN takes its fast path (see :class:`ItemKNNModel`)
KNN_EXACT_MAX_ITEMS = 10_000

UserRef: TypeAlias = int | np.integer | np.ndarray | list[int] | csr_matrix


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()  # scanning the loaded libraries once saves ~5 ms per call


def single_threaded_blas() -> Any:
    """A context in which BLAS uses one thread: small solves and products run faster so on 2 shared cores."""
    return _single_threaded_blas()


def single_threaded() -> Any:
    """One thread for BLAS and OpenMP while scoring one person: the work is small, and on shared cores (or with
    several requests at once) idle OpenMP threads made the ranker's predict stall for up to a second.

    Example:
        >>> with single_threaded():
        ...     pass
    """
    return _blas_controller().limit(limits=1)


def _single_threaded_blas() -> Any:
    """A context in which BLAS runs on one thread (implicit's advice; also right for many tiny solves)."""
    return _blas_controller().limit(limits=1, user_api="blas")


class ModelNotFitted(CinefuseError, RuntimeError):
    """A model was asked to score or recommend before ``fit``."""


@runtime_checkable
class CollaborativeModel(Protocol):
    """What every collaborative model offers; see the module docstring.

    Example:
        >>> isinstance(PopularityModel(), CollaborativeModel)
        True
    """

    def fit(self, user_items: csr_matrix, show_progress: bool = False) -> None:
        """Learn from a users x items CSR matrix of interaction weights."""
        ...

    def score(self, user_items: csr_matrix) -> np.ndarray:
        """Dense float32 scores (rows x n_items) for each history row; higher is better."""
        ...

    def recommend(self, user: UserRef, N: int = 10, filter_already_liked_items: bool = True,
                  filter_items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The top-N item indices and their scores for a user (see :meth:`RecommenderBase.recommend`)."""
        ...


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``n`` largest entries of each row of ``scores``, best first.

    Example:
        >>> ids, vals = top_n(np.array([[0.1, 0.9, 0.5], [3.0, 1.0, 2.0]]), 2)
        >>> ids.tolist(), vals.tolist()
        ([[1, 2], [0, 2]], [[0.9, 0.5], [3.0, 2.0]])
    """
    scores = np.atleast_2d(scores)
    n = min(n, scores.shape[1])
    if n <= 0:
        return np.empty((scores.shape[0], 0), np.int64), np.empty((scores.shape[0], 0), scores.dtype)
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


class RecommenderBase(ABC):
    """Shared ``recommend`` over a model's ``score``; subclasses implement ``fit`` and ``score``."""

    user_items: csr_matrix | None = None

    @abstractmethod
    def fit(self, user_items: csr_matrix, show_progress: bool = False) -> None:
        """Learn from a users x items CSR matrix of interaction weights."""

    @abstractmethod
    def score(self, user_items: csr_matrix) -> np.ndarray:
        """Dense float32 scores (rows x n_items) for each history row."""

    def _check_fitted(self) -> csr_matrix:
        if self.user_items is None:
            raise ModelNotFitted(f"{type(self).__name__} is not fitted: call fit(user_items) first")
        return self.user_items

    def _as_rows(self, user_items: csr_matrix) -> csr_matrix:
        train = self._check_fitted()
        rows = csr_matrix(user_items, dtype=np.float32)
        if rows.shape[1] != train.shape[1]:
            raise ValueError(f"history rows have {rows.shape[1]} item columns; the model was fitted on "
                             f"{train.shape[1]} - build them with the same Interactions")
        return rows

    def recommend(self, user: UserRef, N: int = 10, filter_already_liked_items: bool = True,
                  filter_items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The top-N items for a user, as ``(item indices, scores)``, best first.

        ``user`` is either a training row index (int, or an array of them for a batch) or a CSR
        history row (1 x n_items, or several rows): the latter scores users who were never in
        training. ``filter_already_liked_items`` removes items in the user's history;
        ``filter_items`` removes the given item indices for everyone. A single user gets 1-D
        arrays without filtered items (so possibly fewer than N); a batch gets (rows x N) arrays
        whose filtered tail, if any, has score ``-inf``.

        Example:
            >>> m = PopularityModel()
            >>> m.fit(csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [0, 1, 0]], dtype=np.float32)))
            >>> ids, scores = m.recommend(csr_matrix(np.array([[0, 1, 0]], dtype=np.float32)), N=2)
            >>> ids.tolist(), scores.tolist()
            ([0, 2], [1.0, 1.0])
        """
        is_history = issparse(user)
        if is_history:
            rows = self._as_rows(user)
            single = rows.shape[0] == 1
        else:
            rows = self._check_fitted()[np.atleast_1d(np.asarray(user, dtype=np.int64))]
            single = isinstance(user, int | np.integer)
        scores = self.score(rows).astype(np.float32, copy=True)
        if filter_already_liked_items:
            r, c = rows.nonzero()
            scores[r, c] = -np.inf
        if filter_items is not None:
            scores[:, np.asarray(filter_items, dtype=np.int64)] = -np.inf
        ids, top = top_n(scores, N)
        if single:
            keep = np.isfinite(top[0])
            return ids[0][keep], top[0][keep]
        return ids, top


class PopularityModel(RecommenderBase):
    """Recommends the items most users interacted with, the same list for everyone.

    The score of an item is the number of training users with a non-zero entry for it.

    Example:
        >>> m = PopularityModel()
        >>> m.fit(csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [0, 1, 0]], dtype=np.float32)))
        >>> m.item_popularity.tolist()
        [1.0, 3.0, 1.0]
    """

    def __init__(self) -> None:
        self.item_popularity: np.ndarray | None = None

    def fit(self, user_items: csr_matrix, show_progress: bool = False) -> None:
        """Count the users of every item."""
        user_items = csr_matrix(user_items)
        self.user_items = user_items
        self.item_popularity = np.bincount(user_items.indices, minlength=user_items.shape[1]).astype(np.float32)

    def score(self, user_items: csr_matrix) -> np.ndarray:
        """Every row gets the item popularity vector."""
        rows = self._as_rows(user_items)
        assert self.item_popularity is not None
        return np.tile(self.item_popularity, (rows.shape[0], 1))


class ItemKNNModel(RecommenderBase):
    """Item-based k-nearest-neighbours: cosine similarity between item columns, top-k neighbours kept.

    ``similarity[i, j]`` = cos(column i, column j) of the training matrix for the ``k_neighbours``
    most similar j of each item i (0 elsewhere and on the diagonal). A history row ``x`` scores
    ``x @ similarity``: an item scores high when it is a near neighbour of many items the user
    liked (as implicit's ``ItemItemRecommender`` does). ``shrinkage`` damps similarities built on
    few co-occurrences: cos * n_ij / (n_ij + shrinkage), n_ij the co-occurrence count. The
    defaults (20 neighbours, shrinkage 10, on the ``"rating"`` weighting) did best on a
    validation split of ml-latest-small.

    Two ways to compute it. The exact one multiplies a block of items at a time (scipy's single-threaded sparse
    product, then a dense block to pick the top k): its time grows with the sum of squared history lengths plus
    the square of the number of movies, 105 s at 1M synthetic ratings (15k movies), far too long at 32M. The fast
    one (``fast=True``, and the default above :data:`KNN_EXACT_MAX_ITEMS` movies) lets implicit's multi-threaded
    C++ ``all_pairs_knn`` find each movie's ``CANDIDATE_FACTOR * k_neighbours`` most cosine-similar movies, then
    shrinks those with co-occurrence counts estimated as ``cos * sqrt(n_i * n_j)`` (exact for 0/1 weights) and
    keeps the top k: 7 s at 1M, and 0.1844 vs the exact 0.1847 nDCG@10 on a validation split there. Without
    shrinkage it is exact.

    Example:
        >>> x = csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float32))
        >>> m = ItemKNNModel(k_neighbours=1, shrinkage=0.0)
        >>> m.fit(x)
        >>> m.similarity.toarray().round(3).tolist()
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """

    #: with shrinkage, the fast path reorders this many times ``k_neighbours`` most cosine-similar candidates
    #: (4 lost 0.0015 nDCG@10 against the exact computation on 1M synthetic ratings, 8 lost 0.0003)
    CANDIDATE_FACTOR = 8

    def __init__(self, k_neighbours: int = 20, shrinkage: float = 10.0, block_size: int = 1024,
                 fast: bool | None = None, num_threads: int = 0) -> None:
        self.k_neighbours = k_neighbours
        self.shrinkage = shrinkage
        self.block_size = block_size
        self.fast = fast
        self.num_threads = num_threads  # for the fast path; 0: every core
        self.similarity: csr_matrix | None = None

    def fit(self, user_items: csr_matrix, show_progress: bool = False) -> None:
        """Compute the pruned cosine item-item similarity: without shrinkage through implicit's multi-threaded
        ``all_pairs_knn`` (C++), with it a block of items at a time (it needs each pair's co-occurrence count)."""
        x = csr_matrix(user_items, dtype=np.float32)
        self.user_items = x
        n_items = x.shape[1]
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
        if self.fast or (self.fast is None and n_items > KNN_EXACT_MAX_ITEMS):
            self.similarity = self._fit_fast(x, x @ diags(inv), show_progress)
            return
        xn = (x @ diags(inv)).T.tocsr()  # items x users, unit rows
        binary = (x > 0).astype(np.float32).T.tocsr() if self.shrinkage > 0 else None
        k = min(self.k_neighbours, max(n_items - 1, 0))
        blocks = []
        for start in range(0, n_items, self.block_size):
            stop = min(start + self.block_size, n_items)
            sims = (xn[start:stop] @ xn.T).toarray()
            if binary is not None:
                counts = (binary[start:stop] @ binary.T).toarray()
                sims *= counts / (counts + self.shrinkage)
            sims[np.arange(stop - start), np.arange(start, stop)] = 0.0
            if k == 0:
                blocks.append(csr_matrix((stop - start, n_items), dtype=np.float32))
                continue
            cols = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            vals = np.take_along_axis(sims, cols, axis=1)
            rows = np.repeat(np.arange(stop - start), k)
            block = csr_matrix((vals.ravel(), (rows, cols.ravel())), shape=(stop - start, n_items),
                               dtype=np.float32)
            block.eliminate_zeros()
            blocks.append(block)
        self.similarity = sparse_vstack(blocks, format="csr") if blocks else csr_matrix((0, 0), dtype=np.float32)

    def _fit_fast(self, x: csr_matrix, unit_columns: csr_matrix, show_progress: bool) -> csr_matrix:
        from implicit._nearest_neighbours import all_pairs_knn

        n_items = unit_columns.shape[1]
        k = min(self.k_neighbours, max(n_items - 1, 0))
        if k == 0:
            return csr_matrix((n_items, n_items), dtype=np.float32)
        # each movie is its own nearest neighbour: ask for one more, then drop the diagonal; with shrinkage, the
        # CANDIDATE_FACTOR * k most similar are the candidates it reorders
        wanted = k + 1 if self.shrinkage == 0 else min(n_items, self.CANDIDATE_FACTOR * k + 1)
        knn = all_pairs_knn(csr_matrix(unit_columns, dtype=np.float64), wanted, num_threads=self.num_threads,
                            show_progress=show_progress).tocoo()
        off = (knn.row != knn.col) & (knn.data > 0)
        rows, cols, vals = knn.row[off], knn.col[off], knn.data[off].astype(np.float32)
        if self.shrinkage > 0:
            raters = np.bincount(x.indices, minlength=n_items).astype(np.float32)
            together = vals * np.sqrt(raters[rows] * raters[cols])  # exact for 0/1 weights, estimated otherwise
            vals = vals * together / (together + self.shrinkage)
        order = np.lexsort((-vals, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
        keep = rank < k  # a movie without a diagonal entry (never rated) may have come back with k + 1
        return csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(n_items, n_items), dtype=np.float32)

    def score(self, user_items: csr_matrix) -> np.ndarray:
        """``history @ similarity`` for each row."""
        rows = self._as_rows(user_items)
        assert self.similarity is not None
        return np.asarray((rows @ self.similarity).toarray(), dtype=np.float32)


def _inverse_spd(matrix: np.ndarray, block: int = 2048) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix by Cholesky (about 3x faster than ``np.linalg.inv``), in
    place: no second n x n copy, so the largest EASE fits twice the movies a copying inverse would. LAPACK wants
    column-major memory; the transpose of a symmetric row-major matrix is that same matrix in column-major order,
    so it goes in (and the result comes back, row-major again) without a copy.

    Example:
        >>> a = np.array([[4.0, 1.0], [1.0, 3.0]], dtype=np.float32)
        >>> b = a.copy()
        >>> inverse = _inverse_spd(b)
        >>> np.allclose(inverse @ a, np.eye(2), atol=1e-5), np.shares_memory(inverse, b), inverse.flags.c_contiguous
        (True, True, True)
    """
    row_major = matrix.flags.c_contiguous and not matrix.flags.f_contiguous
    if row_major:
        matrix = matrix.T
    factor, info = lapack.spotrf(matrix, lower=False, overwrite_a=True) if matrix.dtype == np.float32 \
        else lapack.dpotrf(matrix, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix is not positive definite (LAPACK potrf info={info})")
    potri = lapack.spotri if factor.dtype == np.float32 else lapack.dpotri
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (LAPACK potri info={info})")
    n = inverse.shape[0]
    for start in range(0, n, block):  # potri fills only the upper triangle: mirror it, a block at a time
        stop = min(start + block, n)
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        diag = np.triu(inverse[start:stop, start:stop])
        inverse[start:stop, start:stop] = diag + np.triu(diag, 1).T
    return inverse.T if row_major else inverse  # symmetric: the transpose is the same matrix


def most_rated_columns(user_items: csr_matrix, limit: int) -> np.ndarray:
    """The ``limit`` columns with the most non-zero entries, in column order (ties: the lower column).

    Example:
        >>> most_rated_columns(csr_matrix(np.array([[1, 0, 1], [0, 0, 1]], dtype=np.float32)), 2).tolist()
        [0, 2]
    """
    counts = np.bincount(user_items.indices, minlength=user_items.shape[1])
    return np.sort(np.argsort(-counts, kind="stable")[:limit])


def gram_matrix(x: csr_matrix, block: int = 2048) -> np.ndarray:
    """``XᵀX`` as a dense float32 matrix, a block of columns at a time (the sparse product of all columns at once
    holds every co-occurrence as a 12-byte triple: three times the dense result).

    Example:
        >>> gram_matrix(csr_matrix(np.array([[1, 1], [0, 2]], dtype=np.float32))).tolist()
        [[1.0, 1.0], [1.0, 5.0]]
    """
    x = csr_matrix(x, dtype=np.float32)
    xt = x.T.tocsr()
    xc = x.tocsc()
    n = x.shape[1]
    out = np.empty((n, n), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(start + block, n)
        out[:, start:stop] = (xt @ xc[:, start:stop]).toarray()
    return out


class EASEModel(RecommenderBase):
    """EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): a closed-form item-item model.

    With G = XᵀX + λI and P = G⁻¹, the item weights are B = I - P · diag(1 / diag(P)) with a zero
    diagonal; a history row x scores ``x @ B``. One dense n_items x n_items float32 inverse: about
    0.4 GB and some seconds for ml-latest-small's 9.7k movies. ``l2`` = λ; 300 did best on a
    validation split of ml-latest-small (see benchmarks/baselines.py).

    Above ``max_items`` movies the dense inverse (30 GB at ML-32M's 87k movies) gives way to EASE on the
    ``max_items`` most-rated movies (:func:`most_rated_columns`), which hold nearly every rating of a power-law
    catalogue: memory and time stay bounded by ``max_items``, whatever the catalogue. The other movies score
    ``-inf`` (never recommended by EASE; the fusion reads them as "no EASE score"). ``max_items=None`` is always
    dense. Chosen over SANSA's sparse approximate inverse on validation splits (see the README's Scale section).

    Example:
        >>> x = csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float32))
        >>> m = EASEModel(l2=0.5)
        >>> m.fit(x)
        >>> int(m.score(csr_matrix(np.array([[1, 0, 0]], dtype=np.float32))).argmax())
        1
        >>> m = EASEModel(l2=0.5, max_items=2)
        >>> m.fit(x)
        >>> m.columns.tolist(), float(m.score(csr_matrix(np.array([[1, 0, 0]], dtype=np.float32)))[0, 2])
        ([0, 1], -inf)
    """

    def __init__(self, l2: float = 300.0, max_items: int | None = None) -> None:
        self.l2 = l2
        self.max_items = max_items
        self.weights: np.ndarray | None = None
        self.columns: np.ndarray | None = None  # the modelled columns, when fewer than all

    def fit(self, user_items: csr_matrix, show_progress: bool = False) -> None:
        """Solve for the item-item weight matrix B (of the most-rated ``max_items`` movies, where more)."""
        x = csr_matrix(user_items, dtype=np.float32)
        self.user_items = x
        self.weights = None  # free a previous fit before the next inverse
        self.columns = None
        if self.max_items is not None and x.shape[1] > self.max_items:
            self.columns = most_rated_columns(x, self.max_items)
            x = x[:, self.columns]
            log.info("EASE on the %d most-rated of %d movies", len(self.columns), user_items.shape[1])
        gram = gram_matrix(x)
        gram[np.diag_indices_from(gram)] += self.l2
        p = _inverse_spd(gram)
        p /= -np.diag(p)[np.newaxis, :]
        p[np.diag_indices_from(p)] = 0.0
        self.weights = p

    def score(self, user_items: csr_matrix) -> np.ndarray:
        """``history @ B`` for each row (``-inf`` for movies outside :attr:`columns`)."""
        rows = self._as_rows(user_items)
        assert self.weights is not None
        if self.columns is None:
            return np.asarray(rows @ self.weights, dtype=np.float32)
        out = np.full(rows.shape, -np.inf, dtype=np.float32)
        out[:, self.columns] = rows[:, self.columns] @ self.weights
        return out


class ALSModel(RecommenderBase):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) through ``implicit.cpu.als.AlternatingLeastSquares``.

    The matrix values are the confidences c_ui, which implicit uses as given (after multiplying
    them by this class's ``alpha``, left at 1 because :class:`Interactions` with the
    ``"confidence"`` weighting already holds 1 + alpha * rating / 5). ``item_factors``
    (n_items x factors, float32) is the ``cf`` item vector. Scores come from :meth:`fold_in`:
    the exact least-squares user vector for a history row given the item factors, so a brand
    new user is scored like a trained one. Fitting runs with BLAS limited to one thread, as
    implicit's documentation advises, and with ``num_threads`` threads of its own. The defaults
    (128 factors, regularization 30, with :class:`Interactions` confidences at alpha 4) did best
    on a validation split of ml-latest-small; implicit's own default regularization (0.01)
    overfits its 100k ratings.

    Example:
        >>> x = csr_matrix(np.kron(np.eye(2), np.ones((5, 5))).astype(np.float32))
        >>> m = ALSModel(factors=4, iterations=10, regularization=0.01)
        >>> m.fit(x)
        >>> m.item_factors.shape, m.item_factors.dtype
        ((10, 4), dtype('float32'))
    """

    def __init__(self, factors: int = 128, regularization: float = 30.0, alpha: float = 1.0,
                 iterations: int = 15, random_state: int = 42, num_threads: int = 2) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self._model: object | None = None
        self._gram: np.ndarray | None = None

    def fit(self, user_items: csr_matrix, show_progress: bool = False) -> None:
        """Run implicit's ALS on the confidence matrix."""
        self._gram = None
        from implicit.cpu.als import AlternatingLeastSquares

        x = csr_matrix(user_items, dtype=np.float32)
        self.user_items = x
        with _single_threaded_blas():
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            alpha=self.alpha, iterations=self.iterations,
                                            random_state=self.random_state, num_threads=self.num_threads)
            model.fit(x, show_progress=show_progress)
        self._model = model

    def _fitted_model(self) -> Any:
        if self._model is None:
            raise ModelNotFitted("ALSModel is not fitted: call fit(user_items) first")
        return self._model

    @property
    def item_factors(self) -> np.ndarray:
        """Item factors, n_items x factors, float32."""
        return np.asarray(self._fitted_model().item_factors, dtype=np.float32)

    @property
    def user_factors(self) -> np.ndarray:
        """Factors of the training users, n_users x factors, float32."""
        return np.asarray(self._fitted_model().user_factors, dtype=np.float32)

    def fold_in(self, history: csr_matrix) -> np.ndarray:
        """User vectors (rows x factors, float32) for history rows, by least squares on the fixed item factors.

        This is implicit's ``recalculate_user``: x_u = (YᵀY + Yᵀ(C_u - I)Y + λI)⁻¹ Yᵀ C_u p_u.
        An empty row gives the zero vector. Works for users never seen in training.

        Example:
            >>> x = csr_matrix(np.kron(np.eye(2), np.ones((5, 5))).astype(np.float32))
            >>> m = ALSModel(factors=4, iterations=10, regularization=0.01)
            >>> m.fit(x)
            >>> m.fold_in(csr_matrix(x[:1])).shape
            (1, 4)
        """
        rows = self._as_rows(history)
        factors = self.item_factors
        if getattr(self, "_gram", None) is None:  # YᵀY + λI is the same for every user: compute it once
            self._gram = factors.T.astype(np.float64) @ factors + self.regularization * np.eye(factors.shape[1])
        out = np.zeros((rows.shape[0], factors.shape[1]), dtype=np.float32)
        with _single_threaded_blas():  # tiny solves: threads only add contention
            for r in range(rows.shape[0]):
                idx = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
                if len(idx) == 0:
                    continue
                conf = self.alpha * rows.data[rows.indptr[r]:rows.indptr[r + 1]].astype(np.float64)
                y = factors[idx].astype(np.float64)
                a = self._gram + (y.T * (conf - 1.0)) @ y
                out[r] = np.linalg.solve(a, y.T @ conf)
        return out

    def score(self, user_items: csr_matrix) -> np.ndarray:
        """``fold_in(row) @ item_factors.T`` for each row."""
        return self.fold_in(user_items) @ self.item_factors.T


class BiasedMF:
    """Biased matrix factorisation for rating prediction: r̂_ui = μ + b_u + b_i + p_u·q_i.

    The model of Surprise's ``SVD`` (Koren et al. 2009), fitted by alternating least squares
    rather than SGD: each half-step solves, for every user (then every item), a ridge regression
    on its ratings for [p_u, b_u], with penalties ``reg_factors * n_u`` and ``reg_bias * n_u``
    (the count-weighted λ of ALS-WR, Zhou et al. 2008). Biases start from the regularised
    baseline estimates, factors from N(0, 0.1²). Unknown users or movies fall back to the
    biases they have; predictions are clipped to [0.5, 5]. The defaults (50 factors, both
    penalties 0.1, 10 sweeps, which is converged) were chosen on a validation split of protocol
    B's training part; on protocol B itself RMSE is about 0.85.

    Example:
        >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "movie_id": [10, 20, 10, 20, 10],
        ...                    "rating": [5.0, 1.0, 5.0, 1.0, 5.0]})
        >>> m = BiasedMF(factors=2, iterations=5).fit(df)
        >>> bool(m.predict([3], [10])[0] > m.predict([3], [20])[0])
        True
    """

    def __init__(self, factors: int = 50, reg_factors: float = 0.1, reg_bias: float = 0.1,
                 iterations: int = 10, random_state: int = 42, min_rating: float = 0.5,
                 max_rating: float = 5.0) -> None:
        self.factors = factors
        self.reg_factors = reg_factors
        self.reg_bias = reg_bias
        self.iterations = iterations
        self.random_state = random_state
        self.min_rating = min_rating
        self.max_rating = max_rating
        self.global_mean = 0.0
        self.user_index: dict[int, int] = {}
        self.item_index: dict[int, int] = {}
        self.user_bias = np.zeros(0)
        self.item_bias = np.zeros(0)
        self.user_factors = np.zeros((0, factors))
        self.item_factors = np.zeros((0, factors))

    def _solve_side(self, matrix: csr_matrix, other_factors: np.ndarray, other_bias: np.ndarray,
                    factors: np.ndarray, bias: np.ndarray) -> None:
        """Ridge-solve [factor, bias] of every row of ``matrix`` (ratings) given the other side's.

        Rows with the same number of ratings are solved together as one batched system, so the
        Python loop runs over the few hundred distinct counts, not the thousands of rows.
        """
        f = self.factors
        penalty = np.r_[np.full(f, self.reg_factors), self.reg_bias]
        counts = np.diff(matrix.indptr)
        for n in np.unique(counts[counts > 0]):
            rows = np.flatnonzero(counts == n)
            positions = matrix.indptr[rows][:, None] + np.arange(n)[None, :]  # (rows, n)
            cols = matrix.indices[positions]
            design = np.concatenate([other_factors[cols], np.ones((len(rows), n, 1))], axis=2)
            target = matrix.data[positions] - self.global_mean - other_bias[cols]
            design_t = design.transpose(0, 2, 1)
            lhs = design_t @ design
            lhs[:, np.arange(f + 1), np.arange(f + 1)] += penalty * n
            solution = np.linalg.solve(lhs, design_t @ target[..., None])[..., 0]
            factors[rows] = solution[:, :f]
            bias[rows] = solution[:, f]

    def fit(self, ratings: pd.DataFrame) -> BiasedMF:
        """Fit on a ratings frame with columns ``user_id, movie_id, rating``; returns self."""
        users, user_codes = np.unique(ratings["user_id"].to_numpy(), return_inverse=True)
        items, item_codes = np.unique(ratings["movie_id"].to_numpy(), return_inverse=True)
        values = ratings["rating"].to_numpy(dtype=np.float64)
        self.user_index = {int(u): i for i, u in enumerate(users)}
        self.item_index = {int(m): i for i, m in enumerate(items)}
        by_user = csr_matrix((values, (user_codes, item_codes)), shape=(len(users), len(items)))
        by_item = by_user.T.tocsr()
        self.global_mean = float(values.mean())
        rng = np.random.default_rng(self.random_state)
        self.user_factors = rng.normal(0.0, 0.1, (len(users), self.factors))
        self.item_factors = rng.normal(0.0, 0.1, (len(items), self.factors))
        # baseline biases, damped towards zero for users and items with few ratings
        residual = values - self.global_mean
        self.item_bias = np.bincount(item_codes, residual, len(items)) / (np.bincount(item_codes) + 10.0)
        residual = residual - self.item_bias[item_codes]
        self.user_bias = np.bincount(user_codes, residual, len(users)) / (np.bincount(user_codes) + 10.0)
        # thousands of tiny solves: a BLAS thread pool only adds synchronisation to each
        with _single_threaded_blas():
            for iteration in range(self.iterations):
                self._solve_side(by_user, self.item_factors, self.item_bias, self.user_factors, self.user_bias)
                self._solve_side(by_item, self.user_factors, self.user_bias, self.item_factors, self.item_bias)
                log.debug("BiasedMF iteration %d done", iteration + 1)
        return self

    def predict(self, user_ids: np.ndarray | list[int], movie_ids: np.ndarray | list[int]) -> np.ndarray:
        """Predicted ratings (float64) for aligned arrays of user and movie ids.

        Example:
            >>> df = pd.DataFrame({"user_id": [1, 2], "movie_id": [10, 10], "rating": [4.0, 4.0]})
            >>> BiasedMF(factors=2).fit(df).predict([99], [98]).tolist()  # unknown user and movie
            [4.0]
        """
        u = np.array([self.user_index.get(int(x), -1) for x in user_ids], dtype=np.int64)
        i = np.array([self.item_index.get(int(x), -1) for x in movie_ids], dtype=np.int64)
        known_u, known_i = u >= 0, i >= 0
        pred = np.full(len(u), self.global_mean)
        pred[known_u] += self.user_bias[u[known_u]]
        pred[known_i] += self.item_bias[i[known_i]]
        both = known_u & known_i
        pred[both] += np.einsum("ij,ij->i", self.user_factors[u[both]], self.item_factors[i[both]])
        return np.clip(pred, self.min_rating, self.max_rating)
