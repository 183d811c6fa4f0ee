"""Qdrant Edge at ML-32M's 87,585 movies with the collection settings of index.store.CollectionConfig: upsert
time, HNSW build time, query p50/p95 and recall@10 against exact search, with and without int8 quantization
and on-disk vectors.

    python benchmarks/qdrant_scale.py --points 87585 --queries 200

Vectors are clustered like real embeddings (200 centres plus noise; recall depends on how clustered they are),
in the index's four named vectors (overview and reviews 384-d, poster 512-d, cf 128-d), with genres and years as
payload.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIMS = {"overview": 384, "reviews": 384, "poster": 512, "cf": 128}
CONFIGS = {
    "default (HNSW m 16, ef 100, vectors in RAM)": {},
    "search ef 256": {"hnsw_ef": 256},
    "int8 scalar quantization": {"quantization": "int8"},
    "int8 + original vectors on disk": {"quantization": "int8", "on_disk_vectors": True},
}


def _vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    centres = rng.normal(size=(200, dim))
    v = centres[rng.integers(0, 200, n)] + 0.35 * rng.normal(size=(n, dim))
    return v.astype(np.float32)


def measure_edge(points: int, queries: int = 200, work: Path | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """One row per configuration in :data:`CONFIGS` (times in seconds, latencies in milliseconds).

    Example:
        >>> # measure_edge(87_585)[0]["search_p95"]
    """
    from index.store import Filters, SignalQuery, StorePoint, StoreSchema, VectorSpec, open_store

    rng = np.random.default_rng(seed)
    vectors = {name: _vectors(rng, points, dim) for name, dim in DIMS.items()}
    genres = np.array(["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"])
    genre_of = rng.integers(0, len(genres), points)
    years = rng.integers(1920, 2024, points)
    asks = {name: _vectors(rng, queries, dim) for name, dim in DIMS.items()}
    unit = vectors["overview"] / np.linalg.norm(vectors["overview"], axis=1, keepdims=True)
    exact = np.argsort(-(asks["overview"] @ unit.T), axis=1)[:, :10] + 1
    rows = []
    for label, settings in CONFIGS.items():
        schema = StoreSchema({n: VectorSpec(d, "synthetic", "dot" if n == "cf" else "cosine") for n, d in DIMS.items()},
                             {"settings": settings})
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            store = open_store(Path(tmp) / "index")
            store.create(schema)
            started = time.perf_counter()
            for start in range(0, points, 512):
                stop = min(start + 512, points)
                store.upsert([StorePoint(i + 1, {n: v[i] for n, v in vectors.items()},
                                         {"genres": [str(genres[genre_of[i]])], "year": int(years[i])})
                              for i in range(start, stop)])
            upsert = time.perf_counter() - started
            started = time.perf_counter()
            store.optimize()  # type: ignore[attr-defined]
            optimize = time.perf_counter() - started
            search, fuse, hits = [], [], 0
            for q in range(queries):
                started = time.perf_counter()
                found = store.search(SignalQuery("overview", vector=asks["overview"][q]), limit=10, with_payload=False)
                search.append(time.perf_counter() - started)
                hits += len({h.id for h in found} & set(exact[q].tolist()))
                started = time.perf_counter()
                store.fuse([SignalQuery(n, vector=asks[n][q]) for n in DIMS], limit=10, prefetch_limit=100,
                           filters=Filters(year_min=1980) if q % 2 else None)
                fuse.append(time.perf_counter() - started)
            store.close()
        ms = {k: np.array(v) * 1e3 for k, v in (("search", search), ("fuse", fuse))}
        rows.append({"name": label, "upsert_s": upsert, "optimize_s": optimize,
                     "search_p50": float(np.percentile(ms["search"], 50)),
                     "search_p95": float(np.percentile(ms["search"], 95)),
                     "fuse_p50": float(np.percentile(ms["fuse"], 50)), "fuse_p95": float(np.percentile(ms["fuse"], 95)),
                     "recall@10": hits / (10 * queries)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=87_585)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rows = measure_edge(args.points, args.queries)
    print(f"\n## Qdrant Edge, {args.points:,} points, 4 named vectors, {args.queries} queries\n")
    print("| collection | upsert s | HNSW build s | search p50 ms | p95 ms | 4-way fuse p50 ms | p95 ms | recall@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['upsert_s']:.1f} | {r['optimize_s']:.1f} | {r['search_p50']:.2f} | "
              f"{r['search_p95']:.2f} | {r['fuse_p50']:.2f} | {r['fuse_p95']:.2f} | {r['recall@10']:.3f} |")


if __name__ == "__main__":
    main()
