from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from encoders.text import SentenceTransformerEncoder, load_text_encoder
from index.build import build_index
from index.config import Settings
from index.errors import StoreError
from index.search import search_text, similar_movies
from index.store import Filters, open_store
from tests.tiny_catalog import group_of, tiny_catalog


@pytest.fixture(scope="session")
def text_encoder() -> SentenceTransformerEncoder:
    return load_text_encoder(device="cpu")


class CountingEncoder:
    """The real text encoder, counting what it encodes and failing on purpose after ``fail_after`` calls."""

    def __init__(self, inner: SentenceTransformerEncoder, fail_on_documents: bool = False) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.texts = 0
        self.fail_on_documents = fail_on_documents

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.encode(texts, batch_size=batch_size)

    def encode_documents(self, docs: Sequence[Sequence[str]], batch_size: int = 64, show_progress: bool = False,
                         max_chunks_per_doc: int | None = None) -> np.ndarray:
        if self.fail_on_documents:
            raise RuntimeError("interrupted")
        self.texts += sum(len(d) for d in docs)
        return self.inner.encode_documents(docs, batch_size=batch_size, max_chunks_per_doc=max_chunks_per_doc)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store=str(tmp_path / "index"), cache_dir=str(tmp_path / "cache"), cf_factors=8)


@pytest.fixture
def built(settings: Settings, text_encoder: SentenceTransformerEncoder) -> Settings:
    build_index(tiny_catalog(), settings, text_encoder, None, progress=False)
    return settings


def test_build_stores_every_movie_with_the_signals_it_has(built: Settings) -> None:
    with open_store(built.store) as store:
        assert store.count() == 30
        schema = store.schema()
        assert schema is not None and set(schema.vectors) == {"overview", "reviews", "cf", "text"}
        assert schema.vectors["text"].kind == "sparse" and schema.info["sparse"]["model"] == "qdrant-edge-bm25:english"
        assert schema.vectors["overview"].model == "sentence-transformers/all-MiniLM-L6-v2"
        payload = store.payloads([1])[1]
        assert payload["display_title"] == "Animation Film 1 (1991)" and payload["signals"] == ["overview", "reviews"]


def test_similar_by_overview_stays_in_the_group(built: Settings) -> None:
    with open_store(built.store) as store:
        for movie_id in (1, 12, 25):
            hits = similar_movies(movie_id, store, by="overview", limit=5)
            assert movie_id not in [h.id for h in hits]
            assert sum(group_of(h.id) == group_of(movie_id) for h in hits) >= 4, [h.id for h in hits]


def test_search_finds_the_obvious_group(built: Settings, text_encoder: SentenceTransformerEncoder) -> None:
    with open_store(built.store) as store:
        hits = search_text("a gang of robbers plans to steal from a bank vault", store, text_encoder, limit=5)
        assert all(group_of(h.id) == "heist" for h in hits[:3])
        scary = search_text("a haunted house and a killer", store, text_encoder, limit=5,
                            filters=Filters(genres=["Horror"], year_min=2000))
        assert scary and all(h.payload and "Horror" in h.payload["genres"] and h.payload["year"] >= 2000
                             for h in scary)


def test_failed_build_leaves_the_old_index_whole(built: Settings, text_encoder: SentenceTransformerEncoder) -> None:
    catalog = tiny_catalog()
    catalog.movies[1].overview = "An entirely different overview that was never encoded before."
    catalog.movies[1].reviews = ["A review the cache has not seen, so the reviews stage must encode."]
    with pytest.raises(RuntimeError, match="interrupted"):
        build_index(catalog, built, CountingEncoder(text_encoder, fail_on_documents=True), None, progress=False)
    with open_store(built.store) as store:
        assert store.count() == 30
        assert store.payloads([1])[1]["overview"].startswith("A cowboy doll")


def test_interrupted_build_resumes_without_re_encoding(settings: Settings,
                                                       text_encoder: SentenceTransformerEncoder) -> None:
    first = CountingEncoder(text_encoder, fail_on_documents=True)
    with pytest.raises(RuntimeError):
        build_index(tiny_catalog(), settings, first, None, progress=False)
    assert first.texts == 30  # the overviews were encoded (and cached) before the failure
    second = CountingEncoder(text_encoder)
    report = build_index(tiny_catalog(), settings, second, None, progress=False)
    assert second.texts == 60  # only the 30 movies' reviews (2 each): no overview encoded again
    assert report.vectors == {"overview": 30, "reviews": 30, "text": 30}
    third = CountingEncoder(text_encoder)
    build_index(tiny_catalog(), settings, third, None, progress=False)
    assert third.texts == 0


def test_build_refuses_a_locked_index(built: Settings, text_encoder: SentenceTransformerEncoder) -> None:
    holder = open_store(built.store)
    try:
        with pytest.raises(StoreError, match="open in another process"):
            build_index(tiny_catalog(), built, text_encoder, None, progress=False)
    finally:
        holder.close()


@pytest.mark.slow
def test_poster_signal_with_an_untrained_clip(tmp_path: Path, text_encoder: SentenceTransformerEncoder) -> None:
    from encoders.image import load_image_encoder

    clip = load_image_encoder("ViT-B-32", None, allow_untrained=True, device="cpu")
    assert clip is not None
    settings = Settings(store=str(tmp_path / "index"), cache_dir=str(tmp_path / "cache"), cf_factors=8)
    catalog = tiny_catalog(poster_dir=tmp_path / "posters")
    catalog.movies[30].poster = str(tmp_path / "missing.jpg")
    report = build_index(catalog, settings, text_encoder, clip, progress=False)
    assert report.vectors["poster"] == 29
    with open_store(settings.store) as store:
        assert store.schema().vectors["poster"].model == "open_clip/ViT-B-32/untrained-seed0"  # type: ignore[union-attr]
        # identical flat-colour posters within a group: poster neighbours are the group
        hits = similar_movies(2, store, by="poster", limit=5)
        assert all(group_of(h.id) == "animation" for h in hits)
        assert "poster" not in store.payloads([30])[30]["signals"]


def test_payload_keeps_the_merged_metadata_and_its_provenance(settings: Settings,
                                                              text_encoder: SentenceTransformerEncoder) -> None:
    catalog = tiny_catalog()
    movie = catalog[1]
    movie.cast, movie.directors = [f"Actor {i}" for i in range(40)], ["Ann Director"]
    movie.keywords, movie.companies = [f"keyword {i}" for i in range(30)], ["Studio One", "Studio Two"]
    movie.collection, movie.original_language, movie.spoken_languages = "Film Collection", "fr", ["fr", "en"]
    movie.countries, movie.runtime = ["FR"], 95
    movie.provenance = {"overview": ["tmdb_5000_movies"], "cast": ["tmdb_5000_credits", "imdb_5000"],
                        "runtime": ["imdb_5000"]}
    build_index(catalog, settings, text_encoder, None, progress=False)
    with open_store(settings.store) as store:
        payload = store.payloads([1])[1]
    assert payload["cast"] == [f"Actor {i}" for i in range(15)] and len(payload["keywords"]) == 20
    assert (payload["directors"], payload["companies"], payload["collection"]) == (
        ["Ann Director"], ["Studio One", "Studio Two"], "Film Collection")
    assert (payload["original_language"], payload["spoken_languages"], payload["countries"], payload["runtime"]) == (
        "fr", ["fr", "en"], ["FR"], 95)
    assert payload["provenance"] == movie.provenance
