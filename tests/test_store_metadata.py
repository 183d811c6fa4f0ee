"""Everything a movie is, queryable inside the engine: payload filters on people, companies, franchises, keywords,
languages, decades, runtimes and full text; the sparse BM25 vector with Qdrant's idf modifier; fused queries with
boosts and DBSF; ordering by a payload number. Every backend (Qdrant Edge, qdrant-client's local mode) must give
the same answers as a numpy/pure-Python reference on the same generated movies."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from index.errors import StoreError
from index.sparse import Bm25Encoder
from index.store import (
    Boost,
    FieldMatch,
    Filters,
    Hit,
    SignalQuery,
    SparseVector,
    StorePoint,
    StoreSchema,
    VectorSpec,
    VectorStore,
    open_store,
    passes,
    rrf_term,
)

N = 240
PEOPLE = ["Ann Lee", "Bo Chan", "Cy Dunn", "Di Moss", "Ed Park"]
COMPANIES = ["Pixar Animation Studios", "Studio Ghibli", "Warner Bros.", "Walt Disney Pictures"]
KEYWORDS = ["heist", "time travel", "double cross", "zombie", "space", "robot"]
LANGUAGES = ["en", "fr", "ja"]
WORDS = ["bank", "vault", "crew", "ghost", "ship", "planet", "love", "war", "robot", "heist", "night", "city"]
ENCODER = Bm25Encoder(avg_len=12.0)
SCHEMA = StoreSchema({"overview": VectorSpec(8, "test-model"), "text": VectorSpec(0, ENCODER.name, "dot", "sparse")})


def make_points(seed: int = 1) -> list[StorePoint]:
    rng = np.random.default_rng(seed)
    points = []
    for pid in range(1, N + 1):
        words = list(rng.choice(WORDS, size=int(rng.integers(3, 12))))
        overview = "A " + " ".join(words) + " story."
        payload = {
            "title": f"Movie {pid}", "year": 1950 + pid % 70, "decade": (1950 + pid % 70) // 10 * 10,
            "genres": [["Comedy", "Drama", "Animation"][pid % 3]], "overview": overview,
            "directors": [PEOPLE[pid % 5]], "cast": [PEOPLE[(pid // 5) % 5], PEOPLE[(pid // 25) % 5]],
            "companies": [COMPANIES[pid % 4]] if pid % 7 else [], "collection": "Saga Collection" if pid % 11 == 0
            else None, "keywords": [KEYWORDS[pid % 6], KEYWORDS[(pid // 6) % 6]], "tag_keys": ["quirky"] * (pid % 2),
            "original_language": LANGUAGES[pid % 3], "countries": ["US", "FR"][: 1 + pid % 2],
            "runtime": 70 + pid % 90 if pid % 9 else None, "rating_count": pid * 7 % N + 1000 * (pid % 3 == 0),
        }
        vectors: dict[str, np.ndarray | SparseVector] = {"overview": rng.normal(size=8).astype(np.float32)}
        vectors["text"] = ENCODER.embed_documents([overview + " " + " ".join(payload["keywords"])])[0]
        points.append(StorePoint(pid, vectors, payload))
    return points


@pytest.fixture(scope="module")
def points() -> list[StorePoint]:
    return make_points()


@pytest.fixture(params=["edge-memory", "edge-path", "client-memory", "client-path"])
def store(request: pytest.FixtureRequest, tmp_path: Path, points: list[StorePoint]) -> VectorStore:
    kind, where = request.param.split("-")
    location = ":memory:" if where == "memory" else str(tmp_path / "idx")
    s = open_store(location, backend="edge" if kind == "edge" else "client")
    s.create(SCHEMA)
    s.upsert(points)
    yield s
    s.close()


def dense_reference(points: list[StorePoint], query: np.ndarray, limit: int, filters: Filters | None
                    ) -> list[int]:
    rows = []
    for p in points:
        if passes(p.payload, filters, p.id):
            v = p.vectors["overview"]
            assert isinstance(v, np.ndarray)
            rows.append((p.id, float(v @ query) / float(np.linalg.norm(v) * np.linalg.norm(query))))
    return [pid for pid, _ in sorted(rows, key=lambda r: -r[1])[:limit]]


def bm25_reference(points: list[StorePoint], query: SparseVector, filters: Filters | None = None
                   ) -> list[tuple[int, float]]:
    """Qdrant's idf modifier: idf = ln(1 + (N - n + 0.5) / (n + 0.5)) over the points holding the vector."""
    df: dict[int, int] = {}
    for p in points:
        doc = p.vectors["text"]
        assert isinstance(doc, SparseVector)
        for i in doc.indices:
            df[i] = df.get(i, 0) + 1
    rows = []
    for p in points:
        doc = p.vectors["text"]
        assert isinstance(doc, SparseVector)
        weights = dict(zip(doc.indices, doc.values, strict=True))
        score = sum(w * weights[i] * math.log(1 + (len(points) - df[i] + 0.5) / (df[i] + 0.5))
                    for i, w in zip(query.indices, query.values, strict=True) if i in weights)
        if score > 0 and passes(p.payload, filters, p.id):
            rows.append((p.id, score))
    return sorted(rows, key=lambda r: (-r[1], r[0]))


FILTERS = {
    "director": Filters(match=[FieldMatch(("directors",), ("Ann Lee",))]),
    "actor and company": Filters(match=[FieldMatch(("cast",), ("Bo Chan",)),
                                        FieldMatch(("companies",), ("Pixar Animation Studios", "Studio Ghibli"))]),
    "franchise": Filters(match=[FieldMatch(("collection",), ("Saga Collection",))]),
    "keyword or tag": Filters(match=[FieldMatch(("keywords", "tag_keys"), ("time travel", "quirky"))]),
    "language, decade": Filters(match=[FieldMatch(("original_language",), ("ja",)), FieldMatch(("decade",), (1990,))]),
    "country": Filters(match=[FieldMatch(("countries",), ("FR",))]),
    "runtime": Filters(runtime_min=80, runtime_max=100),
    "full-text phrase": Filters(match=[FieldMatch(("overview",), ("bank vault",))]),
    "negations": Filters(exclude=[FieldMatch(("directors",), ("Ann Lee", "Bo Chan")),
                                  FieldMatch(("genres",), ("Drama",)), FieldMatch(("overview",), ("ghost",))]),
    "everything": Filters(genres=["Comedy", "Animation"], year_min=1960, year_max=2010, runtime_max=150,
                          match=[FieldMatch(("countries",), ("US",))],
                          exclude=[FieldMatch(("keywords",), ("zombie",))], exclude_ids=[3, 6]),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_filters_run_in_the_engine_and_match_the_reference(store: VectorStore, points: list[StorePoint],
                                                           name: str) -> None:
    flt = FILTERS[name]
    want_count = sum(passes(p.payload, flt, p.id) for p in points)
    assert 0 < want_count < N, name  # each filter keeps some movies and drops some
    assert store.count(flt) == want_count
    q = np.random.default_rng(5).normal(size=8).astype(np.float32)
    got = store.search(SignalQuery("overview", vector=q), limit=15, filters=flt)
    assert [h.id for h in got] == dense_reference(points, q, 15, flt)
    assert all(passes(h.payload or {}, flt, h.id) for h in got)


def test_full_text_filters_match_whole_words_in_order(store: VectorStore, points: list[StorePoint]) -> None:
    phrase = Filters(match=[FieldMatch(("overview",), ("vault bank",))])
    ids = {h.id for h in store.top("rating_count", limit=N, filters=phrase)}
    assert ids == {p.id for p in points if " vault bank " in f" {p.payload['overview'].lower().rstrip('.')} "}
    assert store.count(Filters(match=[FieldMatch(("overview",), ("ban",))])) == 0  # a word, not a substring


def test_sparse_search_is_bm25_with_the_engines_idf(store: VectorStore, points: list[StorePoint]) -> None:
    for text, flt in (("bank vault heist", None), ("ghost ship", FILTERS["country"]), ("robots", None)):
        query = ENCODER.embed_query(text)
        got = store.search(SignalQuery("text", vector=query), limit=10, filters=flt)
        reference = bm25_reference(points, query, flt)
        want = [score for _, score in reference[:10]]
        assert np.allclose([h.score for h in got], want, rtol=1e-4)
        assert np.allclose([dict(reference)[h.id] for h in got], want, rtol=1e-4)  # the same movies, ties aside


def test_top_orders_by_a_payload_number(store: VectorStore, points: list[StorePoint]) -> None:
    flt = FILTERS["director"]
    got = store.top("rating_count", limit=8, filters=flt)
    ranked = sorted((p for p in points if passes(p.payload, flt)), key=lambda p: -p.payload["rating_count"])
    assert [h.payload["rating_count"] for h in got] == [p.payload["rating_count"] for p in ranked[:8]]  # type: ignore[index]


def test_boosted_fusion_puts_matching_movies_first(store: VectorStore, points: list[StorePoint]) -> None:
    rng = np.random.default_rng(11)
    dense = SignalQuery("overview", vector=rng.normal(size=8).astype(np.float32))
    sparse = SignalQuery("text", vector=ENCODER.embed_query("bank heist crew"), weight=0.5)
    boost = Boost(FieldMatch(("keywords",), ("heist",)), 1.0)
    got = store.fuse([dense, sparse], limit=20, prefetch_limit=60, boosts=[boost])
    plain = store.fuse([dense, sparse], limit=60, prefetch_limit=60)
    # the reference: the same RRF scores, plus 1 where the boost holds (BM25's order from the engine itself, whose
    # ties may fall either way: test_sparse_search_is_bm25_with_the_engines_idf checks its scores)
    fused: dict[int, float] = {}
    for q in (dense, sparse):
        ranked = (dense_reference(points, q.vector, 60, None) if q.using == "overview"  # type: ignore[arg-type]
                  else [h.id for h in store.search(q, limit=60, with_payload=False)])
        for rank, pid in enumerate(ranked):
            fused[pid] = fused.get(pid, 0.0) + rrf_term(rank, q.weight)
    by_id = {p.id: p for p in points}
    want = {pid: score + ("heist" in by_id[pid].payload["keywords"]) for pid, score in fused.items()}
    assert all(abs(h.score - want[h.id]) < 3e-4 for h in got)  # within a BM25 tie's swap of two ranks
    assert [h.score for h in got] == sorted((h.score for h in got), reverse=True)
    assert min(h.score for h in got) >= sorted(want.values(), reverse=True)[19] - 3e-4
    assert {h.id for h in plain} >= {h.id for h in got}
    heist = [("heist" in (h.payload or {})["keywords"]) for h in got]
    assert heist == sorted(heist, reverse=True) and any(heist)


def test_a_fused_source_can_be_restricted_and_dbsf_fuses_alike(store: VectorStore, points: list[StorePoint]) -> None:
    dense = SignalQuery("overview", vector=np.ones(8, dtype=np.float32))
    only_zombies = SignalQuery("text", vector=ENCODER.embed_query("zombie night"),
                               filters=Filters(match=[FieldMatch(("keywords",), ("zombie",))]))
    hits = store.fuse([dense, only_zombies], limit=30, prefetch_limit=10)
    sparse_only = {pid for pid, _ in bm25_reference(points, only_zombies.vector,  # type: ignore[arg-type]
                                                    only_zombies.filters)[:10]}
    dense_only = set(dense_reference(points, dense.vector, 10, None))  # type: ignore[arg-type]
    assert {h.id for h in hits} == sparse_only | dense_only
    dbsf = store.fuse([dense, only_zombies], limit=10, prefetch_limit=10, fusion="dbsf")
    assert len(dbsf) == 10 and {h.id for h in dbsf} <= sparse_only | dense_only


def test_backends_agree_on_fused_boosted_filtered_queries(tmp_path: Path, points: list[StorePoint]) -> None:
    answers: list[list[Hit]] = []
    for backend in ("edge", "client"):
        with open_store(str(tmp_path / backend), backend=backend) as s:  # type: ignore[arg-type]
            s.create(SCHEMA)
            s.upsert(points)
            answers.append(s.fuse([SignalQuery("overview", vector=np.arange(8, dtype=np.float32)),
                                   SignalQuery("text", vector=ENCODER.embed_query("love war city"))],
                                  limit=15, filters=FILTERS["everything"], fusion="dbsf",
                                  boosts=[Boost(FieldMatch(("overview",), ("war",)), 0.7)]))
    assert [h.id for h in answers[0]] == [h.id for h in answers[1]]
    assert np.allclose([h.score for h in answers[0]], [h.score for h in answers[1]], rtol=1e-4)


def test_bad_filters_and_vectors_are_named() -> None:
    with pytest.raises(StoreError, match="cannot filter on payload field"):
        FieldMatch(("budget",), (1,))
    with pytest.raises(StoreError, match="needs at least one value"):
        FieldMatch(("cast",), ())
    with open_store(":memory:") as s:
        s.create(SCHEMA)
        with pytest.raises(StoreError, match="vector 'text' is sparse"):
            s.upsert([StorePoint(1, {"text": np.ones(3, dtype=np.float32)}, {})])
        with pytest.raises(StoreError, match="3 indices but 2 values"):
            s.upsert([StorePoint(1, {"text": SparseVector((1, 2, 3), (1.0, 1.0))}, {})])
        assert s.count() == 0  # nothing half-written
