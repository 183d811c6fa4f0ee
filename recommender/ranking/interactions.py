"""The user x item interaction matrix every collaborative model trains on, with its id maps.

A ratings frame (columns ``user_id, movie_id, rating, timestamp``) becomes a
:class:`scipy.sparse.csr_matrix` of float32 weights, one row per user and one column per movie.
Three weightings are offered:

``"binary"``
    1 for every rated (user, movie) pair, whatever the stars: a rating means the user watched it.
``"rating"``
    the star rating itself (0.5 to 5).
``"confidence"``
    ``1 + alpha * rating / max_rating`` (Hu, Koren & Volinsky 2008 style confidence). Every rating
    counts as a positive interaction with confidence at least 1, and more stars give more
    confidence, linearly, up to ``1 + alpha`` for a 5-star rating. Ratings are scaled by the
    maximum star value rather than centered per user: centering makes below-average ratings
    negative, which `implicit` reads as *dislikes*, and a watched-but-disliked movie is still a
    better guess of what a user will watch next than an unwatched one. The default ``alpha = 4``
    (confidences 1.4 to 5) with regularization 30 gave implicit's ALS its best nDCG@10 on a
    validation split of ml-latest-small; larger alphas (the 40 of the paper, made for play
    counts) did worse on star ratings at every regularization tried.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

Weighting = Literal["binary", "rating", "confidence"]

#: The highest MovieLens star rating, used to scale ratings for the confidence weighting.
MAX_RATING = 5.0


def rating_weights(ratings: np.ndarray, weighting: Weighting = "confidence", alpha: float = 4.0) -> np.ndarray:
    """Interaction weights (float32) for star ratings under ``weighting``; see the module docstring.

    Example:
        >>> rating_weights(np.array([5.0, 2.5]), "confidence", alpha=4.0).tolist()
        [5.0, 3.0]
        >>> rating_weights(np.array([5.0, 2.5]), "binary").tolist()
        [1.0, 1.0]
    """
    ratings = np.asarray(ratings, dtype=np.float32)
    if weighting == "binary":
        return np.ones_like(ratings)
    if weighting == "rating":
        return ratings.copy()
    if weighting == "confidence":
        return (1.0 + alpha * ratings / MAX_RATING).astype(np.float32)
    raise ValueError(f"unknown weighting {weighting!r}; use 'binary', 'rating' or 'confidence'")


#: the ALS confidence of a 4-star rating (1 + 4 * 4/5): at or above it, a person "loved" the movie
LOVED_CONFIDENCE = 1 + 4 * 4 / MAX_RATING


def loved_from_confidence(matrix: csr_matrix, threshold: float = LOVED_CONFIDENCE) -> csr_matrix:
    """The users x items 0/1 matrix of "loved" (rated 4 or more) from the ranker's confidence matrix.

    Example:
        >>> loved_from_confidence(csr_matrix(np.array([[4.2, 2.0]]))).toarray().tolist()
        [[1.0, 0.0]]
    """
    loved = csr_matrix(matrix >= threshold - 1e-6, dtype=np.float32)
    loved.eliminate_zeros()
    return loved


@dataclass(frozen=True)
class Interactions:
    """A CSR user x item matrix of interaction weights, with the maps between ids and row/column indices.

    Build it with :meth:`from_ratings`. Row ``u`` is user ``user_ids[u]``; column ``i`` is movie
    ``item_ids[i]``; ``user_index`` / ``item_index`` map ids back to indices.

    Example:
        >>> df = pd.DataFrame({"user_id": [7, 7, 9], "movie_id": [1, 2, 2], "rating": [5.0, 1.0, 4.0]})
        >>> x = Interactions.from_ratings(df, weighting="binary")
        >>> x.matrix.toarray().tolist(), x.user_ids.tolist(), x.item_ids.tolist()
        ([[1.0, 1.0], [0.0, 1.0]], [7, 9], [1, 2])
    """

    matrix: csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    weighting: Weighting = "confidence"
    alpha: float = 4.0
    user_index: dict[int, int] = field(default_factory=dict, repr=False)
    item_index: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.matrix.shape != (len(self.user_ids), len(self.item_ids)):
            raise ValueError(f"matrix shape {self.matrix.shape} does not match "
                             f"{len(self.user_ids)} users x {len(self.item_ids)} items")
        if not self.user_index:
            object.__setattr__(self, "user_index", {int(u): i for i, u in enumerate(self.user_ids)})
        if not self.item_index:
            object.__setattr__(self, "item_index", {int(m): i for i, m in enumerate(self.item_ids)})

    @property
    def n_users(self) -> int:
        """Number of rows (users)."""
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        """Number of columns (items)."""
        return int(self.matrix.shape[1])

    @classmethod
    def from_ratings(
        cls,
        df: pd.DataFrame,
        item_ids: Iterable[int] | None = None,
        weighting: Weighting = "confidence",
        alpha: float = 4.0,
        user_ids: Iterable[int] | None = None,
    ) -> Interactions:
        """Build the matrix from a ratings frame with columns ``user_id, movie_id, rating``.

        ``item_ids`` fixes the columns (for instance the whole catalog, so that movies nobody
        rated still get a column); ratings of movies outside it are dropped. Without it the
        columns are the sorted distinct movie ids of ``df``. ``user_ids`` does the same for rows.
        Where a user rated a movie twice, the last row (by ``timestamp`` when present) wins.
        ``alpha`` is used only by the ``"confidence"`` weighting.

        Example:
            >>> df = pd.DataFrame({"user_id": [1, 1], "movie_id": [10, 30], "rating": [5.0, 2.5]})
            >>> x = Interactions.from_ratings(df, item_ids=[10, 20, 30], alpha=4.0)
            >>> x.matrix.toarray().tolist()
            [[5.0, 0.0, 3.0]]
        """
        missing = {"user_id", "movie_id", "rating"} - set(df.columns)
        if missing:
            raise ValueError(f"ratings frame lacks column(s) {sorted(missing)}; it has {list(df.columns)}")
        movie_ids, user_ids_all = df["movie_id"].to_numpy(), df["user_id"].to_numpy()
        items = np.unique(movie_ids) if item_ids is None else np.asarray(list(item_ids))
        users = np.unique(user_ids_all) if user_ids is None else np.asarray(list(user_ids))
        cols = pd.Index(items).get_indexer(movie_ids)
        rows = pd.Index(users).get_indexer(user_ids_all)
        keep = np.flatnonzero((cols >= 0) & (rows >= 0))
        cell = rows[keep].astype(np.int64) * len(items) + cols[keep]
        # one sort by (cell, time, position) orders the matrix row by row and puts each cell's latest rating last
        keys = [keep, cell] if "timestamp" not in df.columns else [keep, df["timestamp"].to_numpy()[keep], cell]
        order = np.lexsort(keys)
        cell = cell[order]
        last = np.r_[cell[1:] != cell[:-1], True] if len(cell) else np.zeros(0, dtype=bool)
        cell, stars = cell[last], df["rating"].to_numpy()[keep[order[last]]]
        indptr = np.searchsorted(cell // max(len(items), 1), np.arange(len(users) + 1))
        matrix = csr_matrix((rating_weights(stars, weighting, alpha), (cell % max(len(items), 1)).astype(np.int32),
                             indptr), shape=(len(users), len(items)), dtype=np.float32)
        return cls(matrix=matrix, user_ids=users, item_ids=items, weighting=weighting, alpha=alpha)

    def history_row(self, movie_ids: Sequence[int], ratings: Sequence[float] | None = None) -> csr_matrix:
        """A 1 x n_items row, weighted like this matrix, for a user who is not (or not only) in it.

        Movies outside the columns are ignored. Without ``ratings`` every movie counts as a
        5-star rating (a "liked" item). This is what models score new users from.

        Example:
            >>> df = pd.DataFrame({"user_id": [1], "movie_id": [10], "rating": [4.0]})
            >>> x = Interactions.from_ratings(df, item_ids=[10, 20], weighting="binary")
            >>> x.history_row([20, 99]).toarray().tolist()
            [[0.0, 1.0]]
        """
        stars = np.full(len(movie_ids), MAX_RATING) if ratings is None else np.asarray(ratings, float)
        by_column: dict[int, float] = {}  # a movie listed twice keeps its last rating
        for movie_id, star in zip(movie_ids, stars, strict=True):
            col = self.item_index.get(int(movie_id))
            if col is not None:
                by_column[col] = float(star)
        cols = np.asarray(sorted(by_column), dtype=np.int64)
        data = rating_weights(np.asarray([by_column[c] for c in cols], dtype=np.float32),
                              self.weighting, self.alpha)
        return csr_matrix((data, (np.zeros(len(cols), dtype=np.int64), cols)),
                          shape=(1, self.n_items), dtype=np.float32)

    def rows(self, user_ids: Sequence[int]) -> csr_matrix:
        """The rows of the given users (by id), in that order.

        Example:
            >>> df = pd.DataFrame({"user_id": [1, 2], "movie_id": [10, 20], "rating": [4.0, 3.0]})
            >>> Interactions.from_ratings(df, weighting="binary").rows([2]).toarray().tolist()
            [[0.0, 1.0]]
        """
        return self.matrix[[self.user_index[int(u)] for u in user_ids]]
