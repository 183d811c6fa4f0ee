"""What the merged metadata adds: the same models on the same splits with two item tables, one built from the
metadata files cinefuse read before (the TMDB API lines and The Movies Dataset) and one from every metadata file
merged (TMDB 5000 movies and credits, the Udacity TMDb movie data and IMDB 5000 too). Prints nDCG@10 per model and
protocol for both, and the per-user paired difference (after - before) with a 95% bootstrap interval; then
cold-start Recall@20 for both on the same held-out movies (10% of those that had content before).

    CINEFUSE_CACHE_DIR=/tmp/cache python benchmarks/metadata_sources.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ["overview only", "reviews only", "fusion (trained ranker)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--protocols", nargs="*", default=["A", "B"])
    parser.add_argument("--no-cold", action="store_true")
    args = parser.parse_args()

    import numpy as np

    from encoders.text import load_text_encoder
    from index.build import encode_signals, movie_payload
    from index.cache import EmbeddingCache
    from index.catalog import build_catalog, catalog_from_data_dir, detect_metadata_files, find_movielens_dir
    from index.config import Settings
    from recommender.evaluation.experiments import cold_start_recall, model_factories
    from recommender.evaluation.metrics import ndcg_at_k, paired_difference
    from recommender.evaluation.protocol import rank_test_users, split_protocol
    from recommender.ranking.fusion import ItemTable

    settings = Settings.load()
    data = Path(args.data)
    found = detect_metadata_files(data)
    after = catalog_from_data_dir(data)
    before = build_catalog(find_movielens_dir(data), tmdb_jsonl=found.get("tmdb_api"),
                           movies_metadata=found.get("movies_metadata"), reviews=after.sources.get("reviews"))
    text = load_text_encoder(settings.text_model, device="cpu")
    cache = EmbeddingCache(Path(settings.cache_dir).expanduser() / "embeddings.sqlite")
    tables: dict[str, ItemTable] = {}
    try:
        for name, catalog in (("before", before), ("after", after)):
            vectors = encode_signals(catalog, text, None, cache, settings, {}, progress=False)
            by_movie = {m.movie_id: {s: v[m.movie_id] for s, v in vectors.items() if m.movie_id in v}
                        for m in catalog}
            payloads = {m.movie_id: movie_payload(m, sorted(by_movie[m.movie_id])) for m in catalog}
            tables[name] = ItemTable.from_payloads(payloads, by_movie)
            print(f"{name}: {len(vectors['overview']):,} overview vectors, {len(vectors['reviews']):,} review "
                  f"vectors, TMDB popularity for {int(np.isfinite(tables[name].tmdb_popularity).sum()):,} movies")
    finally:
        cache.close()

    ratings = after.ratings
    print(f"\n{'protocol':<9} {'model':<26} {'before':>8} {'after':>8} {'after - before [95% CI]':>30} {'s':>6}")
    for protocol in args.protocols:
        train, test = split_protocol(ratings, protocol)
        for model in args.models:
            per_user = {}
            started = time.perf_counter()
            for name, items in tables.items():
                factory, weighting = model_factories(items, protocol)[model]
                ranking = rank_test_users(factory(), train, test, 20, weighting=weighting)
                per_user[name] = ndcg_at_k(ranking.ranked, ranking.relevant, 10).per_user
            diff, low, high = paired_difference(per_user["after"], per_user["before"])
            print(f"{protocol:<9} {model:<26} {np.nanmean(per_user['before']):>8.4f} "
                  f"{np.nanmean(per_user['after']):>8.4f} {diff:>+12.4f} [{low:+.4f}, {high:+.4f}] "
                  f"{time.perf_counter() - started:>6.0f}", flush=True)
    if not args.no_cold:
        # the same held-out movies for both tables: 10% of those with content before (all have it after too)
        before_content = [int(m) for i, m in enumerate(tables["before"].item_ids)
                          if tables["before"].has("overview")[i] or tables["before"].has("reviews")[i]]
        frames = {name: cold_start_recall(ratings, items, held_out_from=before_content)
                  for name, items in tables.items()}
        print(f"\ncold-start Recall@20 on the same {frames['after'].attrs['cold_movies']:,} held-out movies "
              f"({frames['after'].attrs['users']:,} users)")
        for model in frames["after"].index:
            values = [frames[n]["recall@20"].get(model, float("nan")) for n in ("before", "after")]
            print(f"  {model:<26} before {values[0]:.4f}  after {values[1]:.4f}  ({values[1] - values[0]:+.4f})")


if __name__ == "__main__":
    main()
