"""The tables the models read: every movie's content and metadata as arrays in one column order
(:class:`ItemTable`, with the content features the content-to-collaborative map and the ranker read), and one
person's ratings (:class:`History`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from recommender.ranking.metadata import METADATA_FIELDS, METADATA_GROUPS, field_tokens, tfidf_rows
from recommender.ranking.profile import Interaction

CONTENT_SIGNALS = ("overview", "reviews", "poster")
#: release periods the map tells apart (a one-hot of the five-year bin)
YEAR_BINS = np.arange(1900, 2031, 5)
#: the metadata tokens enter as this many latent dimensions (truncated SVD of their TF-IDF rows), so every map
#: works on one dense matrix of about a thousand columns whatever the catalogue's vocabulary
TOKEN_DIMENSIONS = 256


def content_features(items: ItemTable, token_dimensions: int = TOKEN_DIMENSIONS) -> np.ndarray:
    """Movies x features (rows in ``items`` order, float32): each embedding signal, genres, the release period
    and the metadata tokens (their TF-IDF rows reduced to ``token_dimensions`` by truncated SVD), each block
    L2-normalised per movie (a zero block where the movie lacks it), plus one 0/1 column per block saying
    whether the movie has it.

    Example:
        >>> t = ItemTable.from_payloads({1: {"genres": ["Crime"], "year": 1995}, 2: {"genres": ["Crime"]}}, {})
        >>> content_features(t).shape
        (2, 31)
    """
    n = len(items.item_ids)
    blocks: list[np.ndarray] = [items.vectors[signal] for signal in sorted(items.vectors)]
    blocks.append(items.genres)
    year = np.zeros((n, len(YEAR_BINS)), dtype=np.float32)
    known = np.isfinite(items.year)
    year[np.flatnonzero(known), np.clip(np.searchsorted(YEAR_BINS, items.year[known], side="right") - 1, 0,
                                        len(YEAR_BINS) - 1)] = 1.0
    blocks.append(year)
    blocks.append(_latent_tokens(items.metadata("content"), token_dimensions))
    blocks = [unit_rows(np.asarray(b, dtype=np.float32)) for b in blocks]
    present = np.column_stack([np.any(b != 0, axis=1) for b in blocks]).astype(np.float32)
    return np.hstack([*blocks, present]).astype(np.float32)


def _latent_tokens(tokens: csr_matrix, dimensions: int) -> np.ndarray:
    """The TF-IDF token rows in ``dimensions`` latent dimensions (all of them when there are fewer tokens)."""
    if tokens.shape[1] <= dimensions or tokens.shape[0] <= dimensions:
        return tokens.toarray()
    from sklearn.decomposition import TruncatedSVD

    return TruncatedSVD(dimensions, random_state=0).fit_transform(tokens).astype(np.float32)


def unit_rows(m: np.ndarray) -> np.ndarray:
    """Each row divided by its length (zero rows stay zero).

    Example:
        >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
        [[0.6, 0.8], [0.0, 0.0]]
    """
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)



@dataclass
class ItemTable:
    """Every movie's content, as dense arrays in one column order (zero rows where a signal is missing), and its
    metadata tokens per field (:data:`~recommender.ranking.metadata.METADATA_FIELDS`; empty lists where unknown).

    Example:
        >>> t = ItemTable.from_payloads({7: {"genres": ["Horror"], "year": 1999, "directors": ["John Carpenter"]}}, {})
        >>> t.item_ids.tolist(), t.genre_names, t.tokens["directors"]
        ([7], ['Horror'], [['director=john carpenter']])
    """

    item_ids: np.ndarray
    vectors: dict[str, np.ndarray]
    genres: np.ndarray  # items x genres, 0/1
    genre_names: list[str]
    year: np.ndarray  # NaN where unknown
    tmdb_popularity: np.ndarray  # NaN where unknown
    tokens: dict[str, list[list[str]]] = field(default_factory=dict)  # metadata field -> each movie's tokens
    index: dict[int, int] = field(default_factory=dict, repr=False)
    _has: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _genre_norms: np.ndarray | None = field(default=None, repr=False)
    _metadata: dict[str, csr_matrix] = field(default_factory=dict, repr=False)
    _content: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.index:
            self.index = {int(m): i for i, m in enumerate(self.item_ids)}
        for name in METADATA_FIELDS:
            self.tokens.setdefault(name, [[] for _ in range(len(self.item_ids))])

    @classmethod
    def from_payloads(cls, payloads: Mapping[int, Mapping[str, Any]],
                      vectors: Mapping[int, Mapping[str, np.ndarray]], item_ids: Sequence[int] | None = None
                      ) -> ItemTable:
        ids = np.asarray(sorted(payloads) if item_ids is None else list(item_ids), dtype=np.int64)
        names = sorted({g for p in payloads.values() for g in p.get("genres") or []})
        col = {g: j for j, g in enumerate(names)}
        genres = np.zeros((len(ids), len(names)), dtype=np.float32)
        year = np.full(len(ids), np.nan, dtype=np.float32)
        pop = np.full(len(ids), np.nan, dtype=np.float32)
        dims = {s: len(v) for vs in vectors.values() for s, v in vs.items()}
        dense = {s: np.zeros((len(ids), d), dtype=np.float32) for s, d in dims.items()}
        tokens: dict[str, list[list[str]]] = {name: [] for name in METADATA_FIELDS}
        for i, mid in enumerate(ids):
            p = payloads.get(int(mid), {})
            for g in p.get("genres") or []:
                genres[i, col[g]] = 1.0
            if p.get("year"):
                year[i] = float(p["year"])
            if p.get("popularity"):
                pop[i] = float(np.log1p(p["popularity"]))
            for s, v in vectors.get(int(mid), {}).items():
                dense[s][i] = v
            for name in METADATA_FIELDS:
                tokens[name].append(field_tokens(p, name))
        return cls(ids, dense, genres, names, year, pop, tokens)

    @classmethod
    def from_store(cls, store: Any, item_ids: Sequence[int] | None = None) -> ItemTable:
        """Pull payloads and every vector from a built index (one scroll and one retrieve)."""
        payloads = store.payloads()
        names = [n for n in store.schema().vectors if n in CONTENT_SIGNALS]
        ids = sorted(payloads)
        vectors: dict[int, dict[str, np.ndarray]] = {}
        for start in range(0, len(ids), 1000):
            vectors.update(store.vectors(ids[start:start + 1000], names))
        for signal in names:  # a signal no movie has still gets its (empty) column
            if not any(signal in v for v in vectors.values()):
                vectors.setdefault(ids[0], {})[signal] = np.zeros(store.schema().vectors[signal].dim, np.float32)
        return cls.from_payloads(payloads, vectors, item_ids)

    def with_tags(self, tags: Mapping[int, Sequence[str]]) -> ItemTable:
        """The same table with each movie's user tags replaced by ``tags`` (movieId -> tags; absent: none). Tags
        are what people wrote after watching: an evaluation keeps only those its training data could have had.

        Example:
            >>> t = ItemTable.from_payloads({1: {"tags": ["dark"]}, 2: {}}, {})
            >>> t.with_tags({2: ["Funny"]}).tokens["tags"]
            [[], ['tag=funny']]
        """
        tokens = dict(self.tokens)
        tokens["tags"] = [field_tokens({"tags": list(tags.get(int(m), []))}, "tags") for m in self.item_ids]
        return ItemTable(self.item_ids, self.vectors, self.genres, self.genre_names, self.year, self.tmdb_popularity,
                         tokens, self.index, self._has, self._genre_norms)

    def metadata(self, group: str) -> csr_matrix:
        """Movies x tokens TF-IDF rows of one :data:`~recommender.ranking.metadata.METADATA_GROUPS` group (cached)."""
        cached = self._metadata.get(group)
        if cached is None:
            fields = METADATA_GROUPS[group]
            cached = tfidf_rows([[t for name in fields for t in self.tokens[name][i]]
                                 for i in range(len(self.item_ids))])
            self._metadata[group] = cached
        return cached

    def content(self) -> np.ndarray:
        """What the content-to-collaborative map reads (:func:`~recommender.ranking.tables.content_features`,
        cached)."""
        if self._content is None:
            self._content = content_features(self)
        return self._content

    def genre_norms(self) -> np.ndarray:
        """Each movie's genre-vector length (cached: it is asked for on every request)."""
        if self._genre_norms is None:
            self._genre_norms = np.linalg.norm(self.genres, axis=1)
        return self._genre_norms

    def has(self, signal: str) -> np.ndarray:
        """Which movies have this signal (cached: it is asked for on every request)."""
        cached = self._has.get(signal)
        if cached is None:
            v = self.vectors.get(signal)
            cached = np.zeros(len(self.item_ids), bool) if v is None else np.any(v != 0, axis=1)
            self._has[signal] = cached
        return cached


#: a dislike's rating in a :class:`History` (MovieLens stars start at 0.5)
DISLIKE = 0.0


@dataclass
class History:
    """One person's ratings as parallel arrays (movie ids, ratings, timestamps). A like is 5 stars; a dislike
    ("less like this", "I hated X") is :data:`DISLIKE`, below any star rating: it is evidence against a movie's
    kind, not that the person watches such films, so the collaborative fold-in leaves it out.

    Example:
        >>> History.from_interactions([Interaction(1, liked=True), Interaction(2, liked=False)]).ratings.tolist()
        [5.0, 0.0]
    """

    movie_ids: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray

    @classmethod
    def from_interactions(cls, items: Sequence[Interaction]) -> History:
        ratings = [5.0 if i.liked else DISLIKE if i.liked is False else (i.rating if i.rating is not None else 5.0)
                   for i in items]
        return cls(np.array([i.movie_id for i in items], dtype=np.int64), np.array(ratings, dtype=np.float32),
                   np.array([i.timestamp if i.timestamp is not None else np.nan for i in items], dtype=np.float64))

    def rated(self) -> np.ndarray:
        """True at each movie that is evidence of what the person watches: every rating, no dislike."""
        return self.ratings > DISLIKE

    def interactions(self) -> list[Interaction]:
        return [Interaction(int(m), rating=float(r), timestamp=None if np.isnan(t) else float(t))
                for m, r, t in zip(self.movie_ids, self.ratings, self.timestamps, strict=True)]


def histories(frame: pd.DataFrame) -> dict[int, History]:
    """Each user's history from a ratings frame.

    Example:
        >>> df = pd.DataFrame({"user_id": [1, 1], "movie_id": [5, 6], "rating": [4.0, 2.0], "timestamp": [0, 9]})
        >>> histories(df)[1].movie_ids.tolist()
        [5, 6]
    """
    codes, users = pd.factorize(frame["user_id"], sort=False)  # people in order of first appearance, as groupby
    order = np.argsort(codes, kind="stable")  # each person's rows keep their order
    bounds = np.searchsorted(codes[order], np.arange(len(users) + 1))
    movies = frame["movie_id"].to_numpy(np.int64)[order]
    stars = frame["rating"].to_numpy(np.float32)[order]
    stamps = (frame["timestamp"].to_numpy(np.float64)[order] if "timestamp" in frame
              else np.full(len(frame), np.nan))
    return {int(u): History(movies[a:b], stars[a:b], stamps[a:b])
            for u, a, b in zip(users, bounds[:-1], bounds[1:], strict=True)}
