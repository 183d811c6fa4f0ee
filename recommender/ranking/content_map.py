"""Content mapped into the collaborative space (CB2CF, Barkan et al. 2019; the idea behind DropoutNet and Heater):
a regression, learned on movies people have rated, from a movie's content to its ALS item factors. A movie nobody
has rated then gets a ``cf`` vector in the same space as the others, and a person's folded-in ALS vector scores it.

The content is every signal a movie may have: its overview, reviews and poster embeddings, its genres and
release period, and its metadata tokens (people, companies, franchise, keywords, user tags, language,
countries) as latent dimensions of their TF-IDF rows. Each block is L2-normalised per movie so that no block
wins by its scale alone.

Why ridge regression (benchmarks/content_map.py, nested validation inside the cold-start split's training data;
the numbers are in that benchmark's docstring): it placed held-out rated movies for their raters as well as
scikit-learn's MLP and better than the nearest rated neighbours' mean, at a fraction of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from recommender.ranking.tables import unit_rows

MapKind = Literal["ridge", "ridge_cv", "mlp", "knn"]
#: the ridge penalties ``ridge_cv`` chooses among by leave-one-out error on the rated movies (efficient GCV)
ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


@dataclass
class ContentMap:
    """A regression from content features to collaborative factors.

    ``kind``: ``"ridge"`` (scikit-learn's Ridge, one solve for every factor), ``"ridge_cv"`` (the same with the
    penalty among :data:`ALPHAS` chosen by leave-one-out error on the movies it learns from, so a small
    catalogue gets less shrinkage than its size alone would suggest, and a large one more), ``"mlp"`` (scikit-learn's
    MLPRegressor, one hidden layer of ``hidden`` units) or ``"knn"`` (the mean factors of the ``neighbours`` rated
    movies whose content is most alike, by cosine).

    Example:
        >>> x = np.eye(4, dtype=np.float32)
        >>> m = ContentMap(alpha=0.1).fit(x, np.arange(8, dtype=np.float32).reshape(4, 2))
        >>> m.predict(x).shape
        (4, 2)
    """

    kind: MapKind = "ridge"
    alpha: float = 3.0
    hidden: int = 256
    neighbours: int = 20
    seed: int = 42

    def fit(self, x: np.ndarray, y: np.ndarray) -> ContentMap:
        if self.kind == "ridge":
            from sklearn.linear_model import Ridge

            self._model = Ridge(alpha=self.alpha, solver="cholesky")
            self._model.fit(x, y)
        elif self.kind == "ridge_cv":
            from sklearn.linear_model import RidgeCV

            self._model = RidgeCV(alphas=ALPHAS)
            self._model.fit(x, y)
        elif self.kind == "mlp":
            from sklearn.neural_network import MLPRegressor

            self._model = MLPRegressor(hidden_layer_sizes=(self.hidden,), alpha=self.alpha, max_iter=60,
                                       early_stopping=True, random_state=self.seed)
            self._model.fit(x, y)
        elif self.kind == "knn":
            self._x = unit_rows(np.asarray(x, dtype=np.float32))
            self._y = np.asarray(y, dtype=np.float32)
        else:
            raise ValueError(f"unknown content map kind {self.kind!r}; use 'ridge', 'mlp' or 'knn'")
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "knn":
            sims = unit_rows(np.asarray(x, dtype=np.float32)) @ self._x.T
            k = min(self.neighbours, sims.shape[1])
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            w = np.clip(np.take_along_axis(sims, top, axis=1), 0, None)
            w = w / np.where(w.sum(axis=1, keepdims=True) > 0, w.sum(axis=1, keepdims=True), 1.0)
            return np.einsum("nk,nkf->nf", w, self._y[top]).astype(np.float32)
        return np.asarray(self._model.predict(x), dtype=np.float32)


def mapped_factors(features: np.ndarray, factors: np.ndarray, trained: np.ndarray, spec: ContentMap,
                   folds: int = 5, seed: int = 42) -> np.ndarray:
    """Every movie's factors as the map predicts them from its content (rows of ``features``; ``factors`` and
    ``trained`` in the same order). A movie in ``trained`` gets its prediction from a map fitted on the other
    folds of ``trained`` (out of fold), every other movie from a map fitted on all of ``trained``: so a rated
    movie's mapped vector never saw its own ratings, the same as a movie nobody rated, and a ranker that learns
    what a mapped vector is worth learns it for movies it will meet. Zeros where no movie was trained on.

    Example:
        >>> x = np.kron(np.eye(2), np.ones((4, 1))).astype(np.float32)  # two kinds of movie
        >>> y = np.kron(np.array([[1.0, 0.0], [0.0, 1.0]]), np.ones((4, 1))).astype(np.float32)
        >>> out = mapped_factors(x, y, np.r_[np.ones(7, bool), False], ContentMap(alpha=0.01), folds=2)
        >>> out.argmax(axis=1).tolist()
        [0, 0, 0, 0, 1, 1, 1, 1]
    """
    out = np.zeros((features.shape[0], factors.shape[1]), dtype=np.float32)
    rows = np.flatnonzero(trained)
    if len(rows) < 2:
        return out
    rest = np.flatnonzero(~trained)
    if len(rest):
        out[rest] = _fitted(spec, features[rows], factors[rows]).predict(features[rest])
    fold_of = np.random.default_rng(seed).permutation(len(rows)) % max(2, min(folds, len(rows)))
    for f in np.unique(fold_of):
        fit, held = rows[fold_of != f], rows[fold_of == f]
        out[held] = _fitted(spec, features[fit], factors[fit]).predict(features[held])
    return out


def _fitted(spec: ContentMap, x: np.ndarray, y: np.ndarray) -> ContentMap:
    return ContentMap(spec.kind, spec.alpha, spec.hidden, spec.neighbours, spec.seed).fit(x, y)

