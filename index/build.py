"""Build the multimodal index: encode each signal a movie has (through the embedding cache), then store it."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
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
from index.errors import StoreError
from index.movie import Movie
from index.quotes import Quote, fit_sentiment, review_quotes
from index.sparse import SPARSE_SIGNAL, Bm25Encoder, average_length, movie_document
from index.store import (
    METADATA_FILE,
    STAGING_MARKER,
    ClientStore,
    EdgeStore,
    SparseVector,
    StorePoint,
    StoreSchema,
    VectorSpec,
    VectorStore,
    iter_batches,
    old_path,
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


#: Longest lists kept in a payload (the catalog keeps them whole): enough for filters and explanations.
PAYLOAD_LIMITS = {"keywords": 20, "cast": 15, "directors": 5, "writers": 5, "composers": 3, "companies": 5,
                  "tags": 20}


def movie_payload(movie: Movie, signals: list[str], quotes: Sequence[Quote] = ()) -> dict[str, Any]:
    """The payload stored with a movie: what filters, the UI and explanations read without the catalog.

    ``provenance`` maps each field to the sources it came from (e.g. ``{"overview": ["tmdb_5000_movies"]}``);
    ``review_quotes`` are the sentences explanations may quote (see :func:`index.quotes.review_quotes`).

    Example:
        >>> movie_payload(Movie(movie_id=1, title="Toy Story", year=1995), ["overview"])["display_title"]
        'Toy Story (1995)'
    """
    lists = {name: list(getattr(movie, name)[:limit]) for name, limit in PAYLOAD_LIMITS.items()}
    return {
        "movie_id": movie.movie_id, "title": movie.title, "display_title": movie.display_title,
        "year": movie.year, "decade": movie.year // 10 * 10 if movie.year else None,
        "genres": list(movie.genres), "imdb_id": movie.imdb_id, "tmdb_id": movie.tmdb_id,
        "popularity": float(movie.popularity) if movie.popularity is not None else 0.0,
        "vote_average": movie.vote_average, "rating_count": int(movie.rating_count),
        "rating_mean": movie.rating_mean, "poster": movie.poster, "overview": movie.overview,
        "tagline": movie.tagline, **lists, "tag_keys": sorted({t.casefold() for t in lists["tags"]}),
        "collection": movie.collection,
        "original_language": movie.original_language, "spoken_languages": list(movie.spoken_languages),
        "countries": list(movie.countries), "runtime": movie.runtime, "release_date": movie.release_date,
        "review_sentences": movie.review_sentences(), "review_quotes": [q.to_dict() for q in quotes],
        "provenance": {name: list(sources) for name, sources in movie.provenance.items()},
        "signals": signals,
    }


def index_schema(settings: Settings, text: TextEncoder, image: ImageEncoder | None,
                 sparse: Bm25Encoder | None = None) -> StoreSchema:
    """The named vectors an index built with these encoders holds (``cf`` is filled by the ranking step; ``text``
    is the sparse BM25 vector of each movie's document).

    Example:
        >>> class T: name, dim = "minilm", 384
        >>> sorted(index_schema(Settings(), T(), None, Bm25Encoder()).vectors)
        ['cf', 'overview', 'reviews', 'text']
    """
    vectors = {"overview": VectorSpec(text.dim, text.name), "reviews": VectorSpec(text.dim, text.name)}
    if image is not None:
        vectors["poster"] = VectorSpec(image.dim, image.name)
    vectors["cf"] = VectorSpec(settings.cf_factors, CF_MODEL, "dot")
    info: dict[str, Any] = {"settings": settings.to_dict()}
    if sparse is not None:
        vectors[SPARSE_SIGNAL] = VectorSpec(0, sparse.name, "dot", "sparse")
        info["sparse"] = sparse.config()
    return StoreSchema(vectors, info)


def sparse_vectors(catalog: Catalog) -> tuple[Bm25Encoder, dict[int, SparseVector]]:
    """Every movie's BM25 document vector (title, overview, keywords, tags, people, companies...), and the encoder
    fitted to the catalog's mean document length.

    Example:
        >>> # encoder, vectors = sparse_vectors(catalog)
    """
    docs = {m.movie_id: movie_document(movie_payload(m, [])) for m in catalog.movies.values()}
    encoder = Bm25Encoder(average_length(docs.values()))
    ids = sorted(docs)
    vectors = encoder.embed_documents([docs[i] for i in ids])
    return encoder, {i: v for i, v in zip(ids, vectors, strict=True) if v}


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[stage] = round(time.perf_counter() - start, 3)


def encode_signals(catalog: Catalog, text: TextEncoder, image: ImageEncoder | None, cache: EmbeddingCache,
                   settings: Settings, seconds: dict[str, float], progress: bool = True
                   ) -> dict[str, dict[int, Any]]:
    """Each signal's vectors by movieId, for the movies that have that signal.

    Example:
        >>> # see tests/test_build.py for a run on a generated catalog
    """
    movies = sorted(catalog.movies.values(), key=lambda m: m.movie_id)
    out: dict[str, dict[int, Any]] = {}

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
        def encode_reviews(batch: Sequence[list[str]]) -> np.ndarray:
            failpoint("encoding")  # the overviews are cached, the reviews not: where a resumed build picks up
            return text.encode_documents(list(batch), batch_size=settings.text_batch_size,
                                         max_chunks_per_doc=settings.review_chunks_per_movie)

        vecs = encode_cached(cache, text.name, docs, [content_key("reviews", budget, *d) for d in docs],
                             encode_reviews, chunk_size=32, desc="reviews", unit="movie", progress=progress)
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


def write_points(store: VectorStore, catalog: Catalog, vectors: dict[str, dict[int, Any]],
                 progress: bool = True, batch_size: int = 512) -> None:
    """Upsert every catalog movie with the vectors it has; idempotent by movieId.

    Example:
        >>> # see tests/test_build.py
    """
    movies = sorted(catalog.movies.values(), key=lambda m: m.movie_id)
    quotes = catalog_quotes(catalog)
    bar = tqdm(total=len(movies), desc="storing", unit="movie", disable=not progress, dynamic_ncols=True)
    for batch in iter_batches(movies, batch_size):
        points = []
        for m in batch:
            vecs = {name: by_id[m.movie_id] for name, by_id in vectors.items() if m.movie_id in by_id}
            points.append(StorePoint(m.movie_id, vecs, movie_payload(m, sorted(set(vecs) - {SPARSE_SIGNAL}),
                                                                  quotes.get(m.movie_id, ()))))
        store.upsert(points)
        bar.update(len(batch))
    bar.close()


def catalog_quotes(catalog: Catalog) -> dict[int, list[Quote]]:
    """The quotable review sentences of every movie (:func:`index.quotes.review_quotes`), unrated reviews judged by
    a sentiment model fitted on the catalog's rated ones.

    Example:
        >>> # see tests/test_quotes.py
    """
    started = time.perf_counter()
    reviews = {m.movie_id: list(zip(m.reviews, m.review_ratings or [None] * len(m.reviews), strict=True))
               for m in catalog.movies.values() if m.reviews}
    sentiment = fit_sentiment(pair for pairs in reviews.values() for pair in pairs)
    quotes = review_quotes(reviews, sentiment)
    log.info("quotes: %d sentences of %d movies in %.1fs", sum(map(len, quotes.values())), len(quotes),
             time.perf_counter() - started)
    return quotes


def check_store_location(settings: Settings, data_dir: str | os.PathLike[str] | None = None) -> None:
    """Refuse, before any work, a build that would lose someone's files or fail late: the store must be a new
    or empty folder or an existing cinefuse index (its ``cinefuse.json`` marks it), not the data folder nor a
    folder around it, not open in another process, and the store's parent and the cache must be writable.

    Example:
        >>> check_store_location(Settings(store=":memory:"))  # nothing on disk to protect
    """
    if settings.store == ":memory:" or settings.is_server():
        _require_writable(Path(settings.cache_dir).expanduser(), "the embedding cache", "CINEFUSE_CACHE_DIR")
        return
    final = Path(settings.store).expanduser()
    if final.exists() and not final.is_dir():
        raise StoreError(f"--store {settings.store} is a file, not a folder: choose a new folder for the index "
                         "(the file is left as it is)")
    if data_dir is not None:
        data = Path(data_dir).expanduser().resolve()
        where = final.resolve()
        if where == data or data.is_relative_to(where):
            raise StoreError(f"--store {settings.store} is the data folder {data_dir} or holds it: a build replaces "
                             "the store folder, so choose a separate folder for the index (e.g. runs/index)")
    if final.is_dir() and not is_index_folder(final) and any(final.iterdir()):
        sample = ", ".join(sorted(p.name for p in final.iterdir())[:3])
        raise StoreError(f"--store {settings.store} holds files that are not a cinefuse index ({sample}...): a "
                         "build replaces the whole folder, so choose a new or empty folder, or an existing index")
    for sibling in (staging_path(final), old_path(final)):
        if sibling.exists() and not is_index_folder(sibling, staging=True):
            raise StoreError(f"{sibling} exists and was not made by cinefuse; cinefuse uses that name while it "
                             "builds the index next to it: move it away or choose another --store")
    _require_writable(final.parent if not final.exists() else final, "the index", "--store")
    if final.exists():
        _require_writable(final.parent, "the folder holding the index (the new index replaces the old one there)",
                          "--store")
    _require_writable(Path(settings.cache_dir).expanduser(), "the embedding cache", "CINEFUSE_CACHE_DIR")
    if (final / METADATA_FILE).exists():
        open_store(final).close()  # fails now, with a clear message, if another process holds it


def is_index_folder(path: Path, staging: bool = False) -> bool:
    """Whether ``path`` is a folder cinefuse made: an index (``cinefuse.json``), or with ``staging`` a build
    in progress or an index being replaced (their marker file).

    Example:
        >>> import tempfile; is_index_folder(Path(tempfile.mkdtemp()))
        False
    """
    return (path / METADATA_FILE).is_file() or (staging and (path / STAGING_MARKER).is_file())


def _require_writable(folder: Path, what: str, setting: str) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    probe = existing / f".cinefuse-write-check-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"cannot write to {existing} ({exc.strerror}): the build must write {what} there. "
                         f"Make it writable or choose another folder ({setting}); nothing was changed") from None


def build_index(catalog: Catalog, settings: Settings, text: TextEncoder, image: ImageEncoder | None, *,
                store: VectorStore | None = None, progress: bool = True, disabled: dict[str, str] | None = None,
                finish: Callable[[VectorStore, Path | None], dict[str, Any] | None] | None = None,
                data_dir: str | os.PathLike[str] | None = None) -> BuildReport:
    """Encode and store a catalog. With no ``store``, builds a local Qdrant Edge index at ``settings.store``
    in a staging folder and swaps it in only when everything is complete, so a failed or killed build leaves
    the old index whole. ``finish(store, folder)`` runs on the staged store before the swap (the ranker is
    trained there, into ``folder``; None for a server); what it returns is added to the saved build info.

    Example:
        >>> # report = build_index(catalog, Settings(store="runs/index"), load_text_encoder(), None)
    """
    if store is None:
        check_store_location(settings, data_dir)
    seconds: dict[str, float] = {}
    cache = EmbeddingCache(Path(settings.cache_dir).expanduser() / "embeddings.sqlite")
    try:
        vectors = encode_signals(catalog, text, image, cache, settings, seconds, progress)
    finally:
        cache.close()
    with _timed(seconds, SPARSE_SIGNAL):
        sparse, vectors[SPARSE_SIGNAL] = sparse_vectors(catalog)
    schema = index_schema(settings, text, image, sparse)
    schema.info["disabled"] = dict(disabled or {})
    schema.info["vector_counts"] = {name: len(by_id) for name, by_id in vectors.items()}
    local = store is None and not settings.is_server() and settings.store != ":memory:"
    staged: Path | None = None
    live: ClientStore | None = None
    with _timed(seconds, "store"):
        failpoint("store")
        if local:
            final = Path(settings.store).expanduser()
            staged = staging_path(final)
            if staged.exists():
                shutil.rmtree(staged)  # a killed build's leftovers (check_store_location saw its marker)
            staged.mkdir(parents=True)
            (staged / STAGING_MARKER).write_text("a cinefuse build in progress; safe to delete\n")
            target: VectorStore = EdgeStore(str(staged))
        elif store is None:
            opened = open_store(settings.store, api_key=settings.api_key, collection=settings.collection,
                                timeout_s=settings.server_timeout_s)
            if isinstance(opened, ClientStore):  # a server: build a new collection, then move the alias to it
                live, target = opened, opened.begin_rebuild()
            else:
                target = opened
        else:
            target = store
        try:
            target.create(schema)
            write_points(target, catalog, vectors, progress)
            if finish is not None:
                extra = finish(target, staged)
                if extra:
                    target.update_info(extra)
            if isinstance(target, EdgeStore):
                target.optimize()
            if live is not None and isinstance(target, ClientStore):
                failpoint("swap")
                live.finish_rebuild(target)
        finally:
            if store is None:
                (live or target).close()
        if staged is not None:
            (staged / STAGING_MARKER).unlink()
            failpoint("swap")
            promote(staged, Path(settings.store).expanduser())
    counts = {name: len(by_id) for name, by_id in vectors.items()}
    report = BuildReport(len(catalog.movies), counts, seconds, settings.store, dict(disabled or {}))
    log.info(report.summary())
    return report


def failpoint(stage: str) -> None:
    """Kill this process at ``stage`` when ``CINEFUSE_FAILPOINT`` names it: how the fault-injection tests
    interrupt a build exactly where they mean to (SIGKILL, so nothing gets to clean up).

    Example:
        >>> failpoint("encoding")  # a no-op unless CINEFUSE_FAILPOINT=encoding
    """
    if os.environ.get("CINEFUSE_FAILPOINT") == stage:
        log.warning("CINEFUSE_FAILPOINT=%s: killing this process", stage)
        os.kill(os.getpid(), signal.SIGKILL)
