from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.errors import StoreError
from index.store import (
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
    assert again.count() == N and again.schema() == SCHEMA
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
