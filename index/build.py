"""Build the multimodal index: encode each signal a movie has (through the embedding cache), then store it."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from encoders.base import ImageEncoder, TextEncoder
from index.cache import EmbeddingCache, content_key, encode_cached
from index.catalog import Catalog
from index.config import Settings
from index.movie import Movie
from index.store import (
    EdgeStore,
    StorePoint,
    StoreSchema,
    VectorSpec,
    VectorStore,
    iter_batches,
    open_store,
    promote,
    staging_path,
)

log = logging.getLogger(__name__)

CF_MODEL = "implicit-als"


@dataclass
class BuildReport:
    """What a build made and how long each stage took.

    Example:
        >>> BuildReport(movies=2, vectors={"overview": 1}, seconds={"overview": 0.5}).summary().splitlines()[0]
        'built 2 movies into :memory:'
    """

    movies: int
    vectors: dict[str, int]
    seconds: dict[str, float]
    location: str = ":memory:"
    disabled: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"built {self.movies:,} movies into {self.location}"]
        lines += [f"  {name:<9} {count:>6,} vectors" for name, count in self.vectors.items()]
        lines += [f"  {name:<9} off: {why}" for name, why in self.disabled.items()]
        lines.append("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        return "\n".join(lines)


def movie_payload(movie: Movie, signals: list[str]) -> dict[str, Any]:
    """The payload stored with a movie: what filters, the UI and explanations read without the catalog.

    Example:
        >>> movie_payload(Movie(movie_id=1, title="Toy Story", year=1995), ["overview"])["display_title"]
        'Toy Story (1995)'
    """
    return {
        "movie_id": movie.movie_id, "title": movie.title, "display_title": movie.display_title,
        "year": movie.year, "genres": list(movie.genres), "imdb_id": movie.imdb_id, "tmdb_id": movie.tmdb_id,
        "popularity": float(movie.popularity) if movie.popularity is not None else 0.0,
        "vote_average": movie.vote_average, "rating_count": int(movie.rating_count),
        "rating_mean": movie.rating_mean, "poster": movie.poster, "overview": movie.overview,
        "tagline": movie.tagline, "keywords": list(movie.keywords[:20]), "cast": list(movie.cast[:8]),
        "directors": list(movie.directors), "tags": list(movie.tags[:20]), "release_date": movie.release_date,
        "review_sentences": movie.review_sentences(),
        "signals": signals,
    }


def index_schema(settings: Settings, text: TextEncoder, image: ImageEncoder | None) -> StoreSchema:
    """The named vectors an index built with these encoders holds (``cf`` is filled by the ranking step).

    Example:
        >>> class T: name, dim = "minilm", 384
        >>> sorted(index_schema(Settings(), T(), None).vectors)
        ['cf', 'overview', 'reviews']
    """
    vectors = {"overview": VectorSpec(text.dim, text.name), "reviews": VectorSpec(text.dim, text.name)}
    if image is not None:
        vectors["poster"] = VectorSpec(image.dim, image.name)
    vectors["cf"] = VectorSpec(settings.cf_factors, CF_MODEL, "dot")
    return StoreSchema(vectors, {"settings": settings.to_dict()})


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[stage] = round(time.perf_counter() - start, 3)


def encode_signals(catalog: Catalog, text: TextEncoder, image: ImageEncoder | None, cache: EmbeddingCache,
                   settings: Settings, seconds: dict[str, float], progress: bool = True
                   ) -> dict[str, dict[int, np.ndarray]]:
    """Each signal's vectors by movieId, for the movies that have that signal.

    Example:
        >>> # see tests/test_build.py for a run on a generated catalog
    """
    movies = sorted(catalog.movies.values(), key=lambda m: m.movie_id)
    out: dict[str, dict[int, np.ndarray]] = {}

    with _timed(seconds, "overview"):
        # length order, so each cached chunk pads as little as one big encode call would
        with_text = sorted(((m.movie_id, t) for m in movies if (t := m.overview_text())), key=lambda mt: len(mt[1]))
        texts = [t for _, t in with_text]
        vecs = encode_cached(cache, text.name, texts, [content_key("overview", t) for t in texts],
                             lambda batch: text.encode(list(batch), batch_size=settings.text_batch_size),
                             desc="overviews", unit="text", progress=progress)
        out["overview"] = {mid: vecs[i] for i, (mid, _) in enumerate(with_text)}

    with _timed(seconds, "reviews"):
        with_reviews = sorted(((m.movie_id, m.reviews[:settings.max_reviews_per_movie]) for m in movies if m.reviews),
                              key=lambda mr: sum(len(r) for r in mr[1]))
        docs = [r for _, r in with_reviews]
        budget = str(settings.review_chunks_per_movie)
        vecs = encode_cached(cache, text.name, docs, [content_key("reviews", budget, *d) for d in docs],
                             lambda batch: text.encode_documents(
                                 list(batch), batch_size=settings.text_batch_size,
                                 max_chunks_per_doc=settings.review_chunks_per_movie),
                             chunk_size=32, desc="reviews", unit="movie", progress=progress)
        out["reviews"] = {mid: vecs[i] for i, (mid, _) in enumerate(with_reviews)}

    if image is not None:
        with _timed(seconds, "posters"):
            with_poster = [(m.movie_id, m.poster) for m in movies if m.poster and Path(m.poster).is_file()]
            paths = [p for _, p in with_poster]
            keys = [content_key("poster", Path(p).read_bytes()) for p in paths]
            vecs = encode_cached(cache, image.name, paths, keys,
                                 lambda batch: image.encode_images(list(batch),
                                                                   batch_size=settings.image_batch_size),
                                 chunk_size=128, desc="posters", unit="image", progress=progress)
            # an unreadable image encodes to zeros: that movie has no poster signal
            out["poster"] = {mid: vecs[i] for i, (mid, _) in enumerate(with_poster) if np.any(vecs[i])}
    return out


def write_points(store: VectorStore, catalog: Catalog, vectors: dict[str, dict[int, np.ndarray]],
                 progress: bool = True, batch_size: int = 512) -> None:
    """Upsert every catalog movie with the vectors it has; idempotent by movieId.

    Example:
        >>> # see tests/test_build.py
    """
    movies = sorted(catalog.movies.values(), key=lambda m: m.movie_id)
    bar = tqdm(total=len(movies), desc="storing", unit="movie", disable=not progress, dynamic_ncols=True)
    for batch in iter_batches(movies, batch_size):
        points = []
        for m in batch:
            vecs = {name: by_id[m.movie_id] for name, by_id in vectors.items() if m.movie_id in by_id}
            points.append(StorePoint(m.movie_id, vecs, movie_payload(m, sorted(vecs))))
        store.upsert(points)
        bar.update(len(batch))
    bar.close()


def build_index(catalog: Catalog, settings: Settings, text: TextEncoder, image: ImageEncoder | None, *,
                store: VectorStore | None = None, progress: bool = True, disabled: dict[str, str] | None = None
                ) -> BuildReport:
    """Encode and store a catalog. With no ``store``, builds a local Qdrant Edge index at ``settings.store``
    in a staging folder and swaps it in only when complete, so a failed build leaves the old index whole.

    Example:
        >>> # report = build_index(catalog, Settings(store="runs/index"), load_text_encoder(), None)
    """
    seconds: dict[str, float] = {}
    cache = EmbeddingCache(Path(settings.cache_dir).expanduser() / "embeddings.sqlite")
    try:
        vectors = encode_signals(catalog, text, image, cache, settings, seconds, progress)
    finally:
        cache.close()
    schema = index_schema(settings, text, image)
    schema.info["disabled"] = dict(disabled or {})
    local = store is None and not settings.store.startswith(("http://", "https://"))
    location = settings.store
    with _timed(seconds, "store"):
        if local and settings.store != ":memory:":
            final = Path(settings.store).expanduser()
            if (final / "cinefuse.json").exists():
                open_store(final).close()  # fails now, with a clear message, if another process holds it
            staged = staging_path(final)
            if staged.exists():
                shutil.rmtree(staged)
            target: VectorStore = EdgeStore(str(staged))
        else:
            target = store or open_store(settings.store, api_key=settings.api_key,
                                         collection=settings.collection)
        target.create(schema)
        write_points(target, catalog, vectors, progress)
        if isinstance(target, EdgeStore):
            target.optimize()
        if store is None:
            target.close()
        if local and settings.store != ":memory:":
            promote(staged, final)
    counts = {name: len(by_id) for name, by_id in vectors.items()}
    report = BuildReport(len(catalog.movies), counts, seconds, location, dict(disabled or {}))
    log.info(report.summary())
    return report
