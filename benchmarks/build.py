"""Build throughput per stage on the real data, the pipeline's overhead over bare `encode`, and the two
embedded stores side by side (Qdrant Edge vs qdrant-client's local mode) on the full catalog.

    python benchmarks/build.py --data ../shared/data [--texts 512] [--reviews 64] [--posters 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoders.text import load_text_encoder  # noqa: E402
from index.build import encode_signals, index_schema, write_points  # noqa: E402
from index.cache import EmbeddingCache  # noqa: E402
from index.catalog import Catalog, catalog_from_data_dir  # noqa: E402
from index.config import Settings  # noqa: E402
from index.store import Filters, SignalQuery, open_store  # noqa: E402


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    best = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best.append(time.perf_counter() - start)
    return min(best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--texts", type=int, default=512, help="overviews to encode in the overhead comparison")
    ap.add_argument("--reviews", type=int, default=64, help="movies whose reviews to encode")
    ap.add_argument("--posters", type=int, default=64, help="posters to encode (untrained ViT-B-32: speed only)")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    rows: list[tuple[str, str, str]] = []
    start = time.perf_counter()
    catalog = catalog_from_data_dir(args.data)
    load_s = time.perf_counter() - start
    rows.append(("catalog load", f"{len(catalog):,} movies", f"{len(catalog) / load_s:,.0f} movies/s"))

    text = load_text_encoder()
    settings = Settings(cache_dir=tempfile.mkdtemp())
    with_overview = [m.movie_id for m in catalog if m.overview][: args.texts]
    texts = [catalog[i].overview_text() or "" for i in with_overview]
    text.encode(texts[:32])  # warm up

    bare = timed(lambda: text.encode(texts, batch_size=settings.text_batch_size))

    overview_only = Catalog(movies={i: replace(catalog[i], reviews=[], poster=None) for i in with_overview},
                            ratings=catalog.ratings.iloc[:0], tags=catalog.tags.iloc[:0])

    def pipeline() -> None:
        encode_signals(overview_only, text, None, EmbeddingCache(":memory:"), settings, {}, progress=False)

    piped = timed(pipeline)
    rows.append(("overviews: bare encode", f"{len(texts)} texts", f"{len(texts) / bare:,.1f} texts/s"))
    rows.append(("overviews: build stage", f"{len(texts)} texts",
                 f"{len(texts) / piped:,.1f} texts/s (overhead {100 * (piped - bare) / bare:+.1f}%)"))

    with_reviews = [m.movie_id for m in catalog if m.reviews][: args.reviews]
    docs = [catalog[i].reviews[: settings.max_reviews_per_movie] for i in with_reviews]
    chunks = sum(min(settings.review_chunks_per_movie, sum(len(c) for c in text.chunk_texts(d))) for d in docs)
    rs = timed(lambda: text.encode_documents(docs, max_chunks_per_doc=settings.review_chunks_per_movie))
    rows.append(("reviews", f"{len(docs)} movies, {chunks} chunks",
                 f"{len(docs) / rs:,.2f} movies/s, {chunks / rs:,.1f} chunks/s"))

    if args.posters:
        from encoders.image import load_image_encoder

        clip = load_image_encoder("ViT-B-32", None, allow_untrained=True)
        assert clip is not None
        paths = [m.poster for m in catalog if m.poster][: args.posters]
        ps = timed(lambda: clip.encode_images(paths))
        rows.append(("posters (ViT-B-32)", f"{len(paths)} images", f"{len(paths) / ps:,.1f} images/s"))

    # the stores, on every catalog movie with four named vectors (random vectors where a signal is missing:
    # this measures the engines, not the models)
    rng = np.random.default_rng(0)
    schema = index_schema(Settings(), text, None)
    schema.vectors["poster"] = schema.vectors["overview"]
    fake = {name: {m.movie_id: rng.normal(size=spec.dim).astype(np.float32) for m in catalog}
            for name, spec in schema.vectors.items()}
    queries = [{name: rng.normal(size=spec.dim).astype(np.float32) for name, spec in schema.vectors.items()}
               for _ in range(args.queries)]
    store_rows = []
    for backend in ("edge", "client"):
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(Path(tmp) / "idx", backend=backend)
            store.create(schema)
            up = timed(partial(write_points, store, catalog, fake, progress=False))
            if hasattr(store, "optimize"):
                store.optimize()
            fused, filtered = [], []
            for q in queries:
                sq = [SignalQuery(n, vector=v) for n, v in q.items()]
                t = time.perf_counter()
                store.fuse(sq, limit=10, prefetch_limit=100)
                fused.append(time.perf_counter() - t)
                t = time.perf_counter()
                store.search(sq[0], limit=10, filters=Filters(genres=["Comedy"], year_min=1990, year_max=2005))
                filtered.append(time.perf_counter() - t)
            store.close()
        store_rows.append((backend, up, statistics.median(fused) * 1e3, np.percentile(fused, 95) * 1e3,
                           statistics.median(filtered) * 1e3))

    print("\n## Build throughput (this machine)\n")
    print("| stage | size | throughput |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print(f"\n## Stores: {len(catalog):,} points, 4 named vectors\n")
    print("| backend | upsert s | 4-way prefetch+RRF p50 ms | p95 ms | filtered query p50 ms |\n|---|---|---|---|---|")
    names = {"edge": "Qdrant Edge (default)", "client": "qdrant-client local mode"}
    for b, up, p50, p95, flt in store_rows:
        print(f"| {names[b]} | {up:.2f} | {p50:.2f} | {p95:.2f} | {flt:.2f} |")


if __name__ == "__main__":
    main()
