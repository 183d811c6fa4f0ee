from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.errors import StoreError
from index.store import (
    CollectionConfig,
    Filters,
    SignalQuery,
    StorePoint,
    StoreSchema,
    VectorSpec,
    VectorStore,
    open_store,
    promote,
    rrf_term,
)

DIMS = {"overview": 16, "poster": 8, "cf": 4}
GENRES = ["Action", "Comedy", "Drama", "Animation"]
N = 300


def make_points(seed: int = 0) -> list[StorePoint]:
    rng = np.random.default_rng(seed)
    points = []
    for pid in range(1, N + 1):
        vectors = {name: rng.normal(size=dim).astype(np.float32) for name, dim in DIMS.items()
                   if not (name == "poster" and pid % 3 == 0)}  # every third movie has no poster
        genres = [GENRES[pid % 4]] + ([GENRES[(pid // 4) % 4]] if pid % 5 == 0 else [])
        points.append(StorePoint(pid, vectors, {"year": 1950 + pid % 70, "genres": genres, "title": f"m{pid}"}))
    return points


SCHEMA = StoreSchema({name: VectorSpec(dim, "test-model", "dot" if name == "cf" else "cosine")
                      for name, dim in DIMS.items()})


def brute_force(points: list[StorePoint], name: str, query: np.ndarray, limit: int,
                filters: Filters | None = None) -> list[tuple[int, float]]:
    """The numpy reference: exact cosine over the points that have the vector and pass the filter."""
    f = filters or Filters()
    rows = []
    for p in points:
        if name not in p.vectors or p.id in f.exclude_ids:
            continue
        if f.genres and not set(f.genres) & set(p.payload["genres"]):
            continue
        if f.year_min is not None and p.payload["year"] < f.year_min:
            continue
        if f.year_max is not None and p.payload["year"] > f.year_max:
            continue
        v = p.vectors[name]
        norm = 1.0 if name == "cf" else float(np.linalg.norm(v) * np.linalg.norm(query))  # cf scores by dot
        rows.append((p.id, float(v @ query) / norm))
    return sorted(rows, key=lambda r: -r[1])[:limit]


def rrf_reference(points: list[StorePoint], queries: list[SignalQuery], prefetch: int, limit: int
                  ) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for q in queries:
        assert q.vector is not None
        for rank, (pid, _) in enumerate(brute_force(points, q.using, q.vector, prefetch)):
            scores[pid] = scores.get(pid, 0.0) + rrf_term(rank, q.weight)
    return sorted(scores.items(), key=lambda r: -r[1])[:limit]


@pytest.fixture(params=["edge-memory", "edge-path", "client-memory", "client-path"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VectorStore:
    kind, where = request.param.split("-")
    location = ":memory:" if where == "memory" else str(tmp_path / "idx")
    s = open_store(location, backend="edge" if kind == "edge" else "client")
    s.create(SCHEMA)
    s.upsert(make_points())
    yield s
    s.close()


def test_count_and_payloads(store: VectorStore) -> None:
    assert store.count() == N
    payloads = store.payloads()
    assert len(payloads) == N and payloads[7]["title"] == "m7"
    assert store.payloads([5, 9999]) == {5: payloads[5]}


@pytest.mark.parametrize("name", list(DIMS))
def test_search_matches_brute_force(store: VectorStore, name: str) -> None:
    points = make_points()
    rng = np.random.default_rng(42)
    for _ in range(5):
        q = rng.normal(size=DIMS[name]).astype(np.float32)
        got = store.search(SignalQuery(name, vector=q), limit=10, with_payload=False)
        want = brute_force(points, name, q, 10)
        assert [h.id for h in got] == [pid for pid, _ in want]
        assert np.allclose([h.score for h in got], [s for _, s in want], atol=1e-4)


def test_filtered_search_matches_brute_force(store: VectorStore) -> None:
    points = make_points()
    q = np.random.default_rng(7).normal(size=16).astype(np.float32)
    f = Filters(genres=["Comedy", "Animation"], year_min=1980, year_max=2000, exclude_ids=[3, 4, 7])
    got = store.search(SignalQuery("overview", vector=q), limit=10, filters=f)
    assert [h.id for h in got] == [pid for pid, _ in brute_force(points, "overview", q, 10, f)]
    assert all(set(h.payload["genres"]) & {"Comedy", "Animation"} for h in got)  # type: ignore[index]
    excluded = store.search(SignalQuery("overview", vector=q), limit=300, filters=Filters(exclude_genres=["Drama"]))
    assert excluded and all("Drama" not in h.payload["genres"] for h in excluded)  # type: ignore[index]


def test_search_batch_equals_single_searches(store: VectorStore) -> None:
    rng = np.random.default_rng(3)
    queries = [SignalQuery(n, vector=rng.normal(size=d).astype(np.float32)) for n, d in DIMS.items()]
    batch = store.search_batch(queries, limit=7)
    singles = [store.search(q, limit=7, with_payload=False) for q in queries]
    assert [[h.id for h in r] for r in batch] == [[h.id for h in r] for r in singles]


@pytest.mark.parametrize("weights", [(1.0, 1.0), (2.0, 0.5)])
def test_fused_query_matches_rrf_reference(store: VectorStore, weights: tuple[float, float]) -> None:
    points = make_points()
    rng = np.random.default_rng(11)
    queries = [SignalQuery(n, vector=rng.normal(size=DIMS[n]).astype(np.float32), weight=w)
               for n, w in zip(["overview", "poster"], weights, strict=True)]
    got = store.fuse(queries, limit=10, prefetch_limit=50, with_payload=False)
    want = rrf_reference(points, queries, 50, 10)
    assert np.allclose([h.score for h in got], [s for _, s in want], atol=1e-6)
    # the same ids at every score; weighted RRF has exact ties (rank 3 at weight 2 equals rank 0 at weight 0.5),
    # and the lowest score group may be cut off by the limit
    def groups(pairs: list[tuple[int, float]]) -> dict[float, set[int]]:
        out: dict[float, set[int]] = {}
        for pid, score in pairs:
            out.setdefault(round(score, 6), set()).add(pid)
        return out

    got_groups, want_groups = groups([(h.id, h.score) for h in got]), groups(want)
    lowest = min(want_groups)
    assert {k: v for k, v in got_groups.items() if k != lowest} == {k: v for k, v in want_groups.items() if k != lowest}


def test_backends_agree_on_recommend_queries(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    pos = [rng.normal(size=16).astype(np.float32) for _ in range(3)]
    neg = [rng.normal(size=16).astype(np.float32)]
    answers = []
    for backend in ("edge", "client"):
        s = open_store(":memory:", backend=backend)  # type: ignore[arg-type]
        s.create(SCHEMA)
        s.upsert(make_points())
        answers.append([h.id for h in s.search(SignalQuery("overview", positives=pos, negatives=neg), limit=10)])
        s.close()
    assert answers[0] == answers[1]


def test_upsert_is_idempotent_by_id(store: VectorStore) -> None:
    points = make_points()
    points[0].payload["title"] = "renamed"
    store.upsert(points[:10])
    assert store.count() == N
    assert store.payloads([1])[1]["title"] == "renamed"


def test_bad_vector_is_refused_and_store_unchanged(store: VectorStore) -> None:
    bad = StorePoint(1, {"overview": np.ones(5, dtype=np.float32)}, {"title": "bad"})
    with pytest.raises(StoreError, match=r"movie 1: vector 'overview' has shape \(5,\)"):
        store.upsert([make_points()[1], bad])
    assert store.payloads([1])[1]["title"] == "m1"
    with pytest.raises(StoreError, match="'plot' is not in this index"):
        store.upsert([StorePoint(2, {"plot": np.ones(4)}, {})])


def test_vectors_round_trip(store: VectorStore) -> None:
    points = {p.id: p for p in make_points()}
    got = store.vectors([1, 3], ["overview", "poster"])
    v = points[1].vectors["overview"]
    assert np.allclose(got[1]["overview"] / np.linalg.norm(got[1]["overview"]), v / np.linalg.norm(v), atol=1e-5)
    assert "poster" not in got[3]  # movie 3 has no poster


def test_store_refuses_vectors_from_other_models(tmp_path: Path) -> None:
    for backend in ("edge", "client"):
        s = open_store(tmp_path / backend, backend=backend)  # type: ignore[arg-type]
        s.create(SCHEMA)
        other = StoreSchema({**SCHEMA.vectors, "overview": VectorSpec(16, "another-model")})
        with pytest.raises(StoreError, match="overview.*test-model.*another-model"):
            s.create(other)
        s.create(SCHEMA)  # the same models are fine
        s.close()


def test_edge_index_persists(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    s = open_store(path)
    s.create(SCHEMA)
    s.upsert(make_points())
    s.close()
    again = open_store(path)
    stored = again.schema()
    assert again.count() == N and stored is not None and stored.vectors == SCHEMA.vectors
    assert stored.info["collection"] == CollectionConfig().to_dict()
    again.close()


def test_second_process_gets_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    s = open_store(path)
    s.create(SCHEMA)
    s.upsert(make_points()[:5])
    code = ("from index.store import open_store\nfrom index.errors import StoreError\n"
            f"try:\n    open_store({str(path)!r})\nexcept StoreError as e:\n    print('STOREERROR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    s.close()
    assert "STOREERROR" in out.stdout and "open in another process" in out.stdout, out.stderr
    assert "Traceback" not in out.stderr


def test_missing_index_says_how_to_build(tmp_path: Path) -> None:
    s = open_store(tmp_path / "nothing")
    assert s.count() == 0
    with pytest.raises(StoreError, match="cinefuse build"):
        s.search(SignalQuery("overview", vector=np.ones(16)), limit=1)


def test_promote_keeps_old_index_until_new_one_is_complete(tmp_path: Path) -> None:
    final, staged = tmp_path / "idx", tmp_path / "idx.building"
    final.mkdir()
    (final / "old").write_text("old")
    (final / "explainer").mkdir()
    (final / "explainer" / "adapter_config.json").write_text("{}")
    staged.mkdir()
    (staged / "new").write_text("new")
    promote(staged, final)
    assert (final / "new").exists() and not (final / "old").exists() and not staged.exists()
    assert (final / "explainer" / "adapter_config.json").exists()  # the trained explainer survives a rebuild


def test_set_vectors_fills_one_signal_of_existing_points(store: VectorStore) -> None:
    fresh = {pid: np.array([1.0, 0.0, 0.0, 100.0 * pid], dtype=np.float32) for pid in (1, 2, 3)}
    store.set_vectors("cf", fresh)
    got = store.search(SignalQuery("cf", vector=np.array([0, 0, 0, 1.0])), limit=3, with_payload=True)
    assert [h.id for h in got] == [3, 2, 1] and got[0].score == pytest.approx(300.0)
    assert store.payloads([3])[3]["title"] == "m3"  # payload and other vectors untouched
    assert "overview" in store.vectors([3], ["overview"])[3]


# ----- collection settings for large catalogues (both backends) ----------------------------------------------

LARGE = CollectionConfig(hnsw_m=32, hnsw_ef_construct=200, hnsw_ef=256, on_disk_vectors=True, quantization="int8")


def _configured(schema: StoreSchema, config: CollectionConfig) -> StoreSchema:
    settings = {k: v for k, v in config.to_dict().items() if k != "payload_indexes"}
    return StoreSchema(schema.vectors, {"settings": settings})


@pytest.mark.parametrize("backend", ["edge", "client"])
def test_large_catalog_settings_keep_exact_answers(tmp_path: Path, backend: str) -> None:
    """int8 quantization, on-disk vectors and a wider HNSW still return the brute-force top 10 (quantized searches
    rescore with the original vectors), on Qdrant Edge and on qdrant-client's local mode (standing in for a server)."""
    points = make_points()
    store = open_store(tmp_path / "idx", backend=backend)  # type: ignore[arg-type]
    store.create(_configured(SCHEMA, LARGE))
    store.upsert(points)
    if hasattr(store, "optimize"):
        store.optimize()
    rng = np.random.default_rng(7)
    for name in ("overview", "cf"):
        for _ in range(5):
            q = rng.normal(size=DIMS[name]).astype(np.float32)
            got = [h.id for h in store.search(SignalQuery(name, vector=q), limit=10)]
            assert got == [i for i, _ in brute_force(points, name, q, 10)]
    flt = Filters(genres=["Comedy"], year_min=1980)
    q = rng.normal(size=DIMS["overview"]).astype(np.float32)
    got = [h.id for h in store.search(SignalQuery("overview", vector=q), limit=10, filters=flt)]
    assert got == [i for i, _ in brute_force(points, "overview", q, 10, flt)]
    fused = store.fuse([SignalQuery("overview", vector=q), SignalQuery("cf", vector=q[:4])], limit=5)
    assert len(fused) == 5
    stored = store.schema()
    assert stored is not None and stored.info["collection"] == LARGE.to_dict()
    store.close()


def test_edge_engine_receives_the_collection_settings(tmp_path: Path) -> None:
    import json

    store = open_store(tmp_path / "idx")
    store.create(_configured(SCHEMA, LARGE))
    store.close()
    engine = json.loads((tmp_path / "idx" / "edge_config.json").read_text())
    assert engine["hnsw_config"]["m"] == 32 and engine["hnsw_config"]["ef_construct"] == 200
    for name in DIMS:
        assert engine["vectors"][name]["memory"] == "cold"  # memory-mapped from disk
        assert engine["vectors"][name]["quantization_config"]["scalar"]["type"] == "int8"
    default = open_store(tmp_path / "plain")
    default.create(SCHEMA)
    default.close()
    engine = json.loads((tmp_path / "plain" / "edge_config.json").read_text())
    assert engine["hnsw_config"]["m"] == 16 and "quantization_config" not in engine["vectors"]["overview"]


def test_client_collection_receives_the_collection_settings(tmp_path: Path) -> None:
    store = open_store(tmp_path / "idx", backend="client")
    store.create(_configured(SCHEMA, LARGE))
    params = store.client.get_collection("movies").config.params.vectors  # type: ignore[attr-defined]
    for name in DIMS:
        assert params[name].on_disk is True and params[name].hnsw_config.m == 32
        assert params[name].quantization_config.scalar.type.value == "int8"
    store.close()


@pytest.mark.parametrize("backend", ["edge", "client"])
def test_existing_collection_keeps_its_settings(tmp_path: Path, backend: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    store = open_store(tmp_path / "idx", backend=backend)  # type: ignore[arg-type]
    store.create(_configured(SCHEMA, LARGE))
    store.upsert(make_points())
    store.close()
    again = open_store(tmp_path / "idx", backend=backend)  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="index.store"):
        again.create(SCHEMA)  # the defaults requested: the collection cannot change what it was made with
    stored = again.schema()
    assert stored is not None and stored.info["collection"] == LARGE.to_dict() and again.count() == N
    assert "keeps the collection settings" in caplog.text
    again.close()


def test_collection_settings_come_from_settings_and_are_checked() -> None:
    from index.config import Settings
    from index.errors import StoreError

    config = CollectionConfig.from_settings(Settings(quantization="int8", hnsw_m=48, on_disk_vectors=True))
    assert (config.quantization, config.hnsw_m, config.on_disk_vectors, config.hnsw_ef) == ("int8", 48, True, None)
    assert CollectionConfig.from_dict(config.to_dict()) == config
    with pytest.raises(StoreError, match="quantization 'pq'"):
        CollectionConfig(quantization="pq")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="hnsw_m must be at least 1"):
        CollectionConfig(hnsw_m=0)
