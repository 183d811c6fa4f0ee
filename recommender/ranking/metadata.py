"""A movie's metadata (people, studios, franchise, keywords, user tags) as TF-IDF rows over field-named tokens,
and a person's similarity to each movie through the movies they rated.

Tokens keep their field (``director=christopher nolan``, ``keyword=heist``), so a director shared with a liked
film is not confused with an actor of the same name. TF-IDF weighs a token by how rare it is in the catalogue:
sharing a director who made four films says more than sharing the genre-like keyword "murder".

Example:
    >>> rows = tfidf_rows([["director=a", "keyword=x"], ["director=a"], ["keyword=x"]], min_df=1)
    >>> scores = metadata_scores(rows, {0: 1.0})
    >>> [round(float(s), 2) for s in scores]
    [1.0, 0.71, 0.71]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from recommender.ranking.profile import DISLIKE_WEIGHT

#: payload field -> token prefix; how many entries of a list field count (billing order: the leads)
METADATA_FIELDS: dict[str, tuple[str, int]] = {
    "directors": ("director", 5), "writers": ("writer", 5), "cast": ("cast", 5), "companies": ("company", 5),
    "collection": ("collection", 1), "keywords": ("keyword", 20), "tags": ("tag", 20),
    "original_language": ("language", 1), "countries": ("country", 3)}
#: the ranker's metadata features: one TF-IDF cosine per group of fields, and one over them all; ``content``
#: is what the content-to-collaborative map reads
METADATA_GROUPS: dict[str, tuple[str, ...]] = {
    "meta_people": ("directors", "writers", "cast"),
    "meta_studio": ("companies", "collection"),
    "meta_keywords": ("keywords", "tags"),
    "metadata": ("directors", "writers", "cast", "companies", "collection", "keywords", "tags"),
    "content": tuple(METADATA_FIELDS)}


def normalise_token(value: Any) -> str:
    """One spelling per name: case-folded, inner whitespace collapsed.

    Example:
        >>> normalise_token("  Christopher   NOLAN ")
        'christopher nolan'
    """
    return " ".join(str(value).split()).casefold()


def field_tokens(payload: Mapping[str, Any], name: str) -> list[str]:
    """The tokens one payload field gives a movie (``cast`` keeps its first five billed).

    Example:
        >>> field_tokens({"directors": ["Michael Mann"], "collection": "Heat Collection"}, "collection")
        ['collection=heat collection']
    """
    prefix, limit = METADATA_FIELDS[name]
    value = payload.get(name)
    values = [value] if isinstance(value, str) else list(value or [])
    out = dict.fromkeys(f"{prefix}={t}" for v in values[:limit] if (t := normalise_token(v)))
    return list(out)


def tfidf_rows(tokens: Sequence[Sequence[str]], min_df: int = 2) -> csr_matrix:
    """Movies x tokens, TF-IDF weighted (smoothed idf, binary tf) and L2-normalised per row; a token fewer than
    ``min_df`` movies have is dropped (it cannot link two movies), and so is a movie's row with no token left.

    Example:
        >>> tfidf_rows([["a", "b"], ["a"], []], min_df=2).toarray().round(2).tolist()
        [[1.0], [1.0], [0.0]]
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(tokens):
        return csr_matrix((len(tokens), 0), dtype=np.float32)
    vectorizer = TfidfVectorizer(analyzer=_identity, binary=True, min_df=min_df, dtype=np.float32)
    try:
        return csr_matrix(vectorizer.fit_transform([list(t) for t in tokens]), dtype=np.float32)
    except ValueError:  # every token rarer than min_df
        return csr_matrix((len(tokens), 0), dtype=np.float32)


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def metadata_profile(rows: csr_matrix, weights: Mapping[int, float],
                     dislike_weight: float = DISLIKE_WEIGHT) -> np.ndarray | None:
    """A person's metadata query, dense over the tokens: the weighted mean of liked movies' rows minus
    ``dislike_weight`` times that of disliked ones (``weights``: row -> signed weight, as
    :func:`~recommender.ranking.profile.profile_vector` takes), L2-normalised; None when no weighted movie has a token.

    Example:
        >>> rows = csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
        >>> [round(float(x), 3) for x in metadata_profile(rows, {0: 1.0, 1: -1.0})]
        [0.894, -0.447]
    """
    if rows.shape[1] == 0:
        return None
    per_movie = np.zeros(rows.shape[0], dtype=np.float64)  # each movie's share of the profile
    for sign, scale in ((1.0, 1.0), (-1.0, dislike_weight)):
        side = [(abs(w), r) for r, w in weights.items() if np.sign(w) == sign and rows.indptr[r + 1] > rows.indptr[r]]
        if side:
            w = np.array([x for x, _ in side])
            per_movie[[r for _, r in side]] += sign * scale * w / w.sum()
    if not per_movie.any():
        return None
    out = rows.T @ per_movie  # one sparse-dense product: no sparse matrix is built per request
    norm = float(np.linalg.norm(out))
    return (out / norm).astype(np.float32) if norm > 0 else None


def metadata_scores(rows: csr_matrix, weights: Mapping[int, float]) -> np.ndarray:
    """Cosine of every movie's metadata row with the person's :func:`metadata_profile`; NaN for movies with no
    token, and everywhere when the history has none.

    Example:
        >>> rows = csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=np.float32))
        >>> metadata_scores(rows, {0: 1.0}).tolist()
        [1.0, 0.0, nan]
    """
    out = np.full(rows.shape[0], np.nan, dtype=np.float32)
    profile = metadata_profile(rows, weights)
    if profile is None:
        return out
    has = np.diff(rows.indptr) > 0
    out[has] = (rows @ profile)[has]
    return out
