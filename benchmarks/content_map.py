"""Choose the content-to-collaborative map (recommender/ranking/content_map.py) on a validation split nested inside the
cold-start experiment's training data, never on its held-out movies: 10% of the training movies with content are
hidden (seed 7), ALS learns from the rest, each map learns content -> ALS factors on the rated movies, and each
validation person ranks the hidden movies by their folded-in vector times the mapped factors (Recall@20, as
`cinefuse evaluate`'s cold-start table). Then, for movies with a few ratings (1, 2, 3, 5 revealed per hidden
movie), whether the ALS factors, the mapped ones or a blend rank the movie's remaining raters better.

    python benchmarks/content_map.py --store runs/index --data ../shared/data

ml-latest-small, overviews for 6,124 movies, reviews for 1,763, no poster weights on this machine (583 hidden
movies, 590 validation people, 81,899 training ratings; Recall@20 of the hidden movies, seconds on the shared
2-core machine):

| map | Recall@20 | seconds |
|---|---|---|
| popularity (TMDB), the peer | 0.1567 | 0 |
| ridge, alpha 0.3 | 0.3278 | 7 |
| ridge, alpha 1 | 0.3576 | 8 |
| **ridge, alpha 3 (chosen)** | **0.3721** | 11 |
| ridge, alpha 10 | 0.3713 | 14 |
| ridge, alpha 30 | 0.3674 | 10 |
| ridge, alpha by leave-one-out (RidgeCV) | 0.3674 | 26 |
| MLP, 256 hidden units (rejected: lower and 40x slower) | 0.3520 | 421 |
| nearest 10 rated movies by content (rejected) | 0.2899 | 5 |
| nearest 30 rated movies by content (rejected) | 0.2490 | 3 |
| chosen map without the embeddings | 0.3472 | 2 |
| chosen map without genres and year | 0.3001 | 4 |
| chosen map without the metadata tokens | 0.2724 | 3 |

Every block adds; the metadata tokens most. For movies with a few ratings, the ALS factors alone, the mapped
ones alone, and blends (n x ALS + b x mapped) / (n + b) for n ratings revealed per hidden movie:

| ratings revealed | ALS factors | mapped | blend b=1 | blend b=3 (chosen) | blend b=10 |
|---|---|---|---|---|---|
| 1 | 0.1971 | 0.3782 | | 0.3878 | |
| 2 | 0.2435 | 0.3844 | | 0.4202 | |
| 3 | 0.2784 | 0.3928 | | 0.4484 | |
| 5 | 0.3631 | 0.4069 | 0.4174 | 0.4388 | 0.4422 |
| 10 | 0.4664 | 0.4311 | 0.4923 | 0.5047 | 0.5116 |
| 20 | 0.6014 | 0.4771 | 0.6092 | 0.6211 | 0.6291 |

(Two runs: the rows 1-3 ran with b=3 only, rows 5-20 with all three; the b=3 value at 5 differs between them,
0.4847 and 0.4388, because each run draws its revealed ratings afresh.) A blend beats either vector at every
count; b=10 edges b=3 from 5 ratings on, b=3 was kept as the fusion's CF_PRIOR_RATINGS (the ranker also sees
the mapped score as its own feature, content_cf).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="runs/index")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--quick", action="store_true", help="only the chosen map and its block ablations")
    parser.add_argument("--no-few", action="store_true", help="skip the few-ratings comparison")
    parser.add_argument("--revealed", nargs="+", type=int, default=[1, 2, 3, 5, 10, 20],
                        help="ratings revealed per hidden movie in the few-ratings comparison")
    parser.add_argument("--no-blocks", action="store_true", help="skip the block ablations")
    args = parser.parse_args()

    import pandas as pd

    from benchmarks.common import items_and_ratings
    from index.catalog import find_movielens_dir
    from index.sources import load_movielens
    from recommender.evaluation.experiments import items_with_training_tags
    from recommender.evaluation.metrics import recall_at_k
    from recommender.ranking.collaborative import ALSModel, top_n
    from recommender.ranking.content_map import ContentMap, mapped_factors
    from recommender.ranking.fusion import CONTENT_SIGNALS
    from recommender.ranking.interactions import Interactions
    from recommender.ranking.splits import split_cold_items

    items, ratings = items_and_ratings(args.store, args.data)
    tags = load_movielens(find_movielens_dir(args.data)).tags
    with_content = [int(m) for i, m in enumerate(items.item_ids) if any(items.has(s)[i] for s in CONTENT_SIGNALS)]
    outer_train, outer_test = split_cold_items(ratings, with_content, frac=0.1, seed=42)
    pool = sorted(set(with_content) & set(outer_train["movie_id"]))
    fit, val = split_cold_items(outer_train, pool, frac=0.1, seed=7)
    hidden = np.unique(val["movie_id"].to_numpy())
    items = items_with_training_tags(items, tags, exclude_movies=np.r_[hidden, outer_test["movie_id"].unique()])
    item_ids = np.union1d(fit["movie_id"].unique(), hidden)
    print(f"validation: {len(hidden):,} hidden movies, {val['user_id'].nunique():,} people, "
          f"{len(fit):,} training ratings")

    def als_on(frame: pd.DataFrame) -> tuple[ALSModel, Interactions]:
        inter = Interactions.from_ratings(frame, item_ids=item_ids, weighting="confidence")
        als = ALSModel(factors=128, regularization=30.0, iterations=15)
        als.fit(inter.matrix)
        return als, inter

    started = time.perf_counter()
    als, inter = als_on(fit)
    print(f"ALS fitted in {time.perf_counter() - started:.0f} s")
    cols = np.array([items.index[int(m)] for m in item_ids])
    content = items.content()[cols]
    rated = np.asarray((inter.matrix > 0).sum(axis=0)).ravel() > 0
    hidden_cols = np.array([inter.item_index[int(m)] for m in hidden])
    people = np.array(sorted(set(val["user_id"]) & set(inter.user_index)))
    user_vectors = als.fold_in(inter.rows(people.tolist()))
    relevant = [set(g) for g in val.groupby("user_id")["movie_id"].agg(list).loc[people]]

    def recall(vectors: np.ndarray) -> float:
        scores = user_vectors @ vectors[hidden_cols].T
        return recall_at_k(hidden[top_n(scores, 20)[0]], relevant, 20).mean

    tmdb = np.nan_to_num(items.tmdb_popularity[cols][hidden_cols], nan=-1.0)
    pop = recall_at_k(hidden[top_n(np.tile(tmdb, (len(people), 1)), 20)[0]], relevant, 20).mean
    rows: list[tuple[str, float, float]] = [("popularity (TMDB)", pop, 0.0)]
    specs = [("ridge, alpha by leave-one-out", ContentMap("ridge_cv"))] if args.quick else [
        *((f"ridge, alpha {a:g}", ContentMap("ridge", alpha=a)) for a in (0.3, 1.0, 3.0, 10.0, 30.0)),
        ("ridge, alpha by leave-one-out", ContentMap("ridge_cv")),
        ("MLP, 256 hidden units", ContentMap("mlp", alpha=1e-3, hidden=256)),
        *((f"nearest {k} by content", ContentMap("knn", neighbours=k)) for k in (10, 30))]
    for name, spec in specs:
        t = time.perf_counter()
        mapped = mapped_factors(content, als.item_factors, rated, spec, folds=2)
        rows.append((name, recall(mapped), time.perf_counter() - t))
        print(f"  {name}: Recall@20 {rows[-1][1]:.4f} ({rows[-1][2]:.0f} s)", flush=True)

    chosen = ContentMap("ridge", alpha=3.0)
    blocks = {} if args.no_blocks else _block_columns(items)
    for block, columns in blocks.items():
        keep = np.ones(content.shape[1], dtype=bool)
        keep[columns] = False
        t = time.perf_counter()
        mapped = mapped_factors(content[:, keep], als.item_factors, rated, chosen, folds=2)
        rows.append((f"chosen map without {block}", recall(mapped), time.perf_counter() - t))
        print(f"  {rows[-1][0]}: Recall@20 {rows[-1][1]:.4f}", flush=True)

    print("\n| map | Recall@20 on hidden movies | seconds |\n|---|---|---|")
    for name, value, seconds in rows:
        print(f"| {name} | {value:.4f} | {seconds:.0f} |")

    if args.no_few:
        return
    blends = (1, 3, 10)
    print("\n| ratings revealed per hidden movie | ALS factors | mapped | "
          + " | ".join(f"blend n/(n+{b})" for b in blends) + " | people |")
    print("|---|---|---|" + "---|" * len(blends) + "---|")
    rng = np.random.default_rng(11)
    val_shuffled = val.iloc[rng.permutation(len(val))]
    for n in args.revealed:
        shown = val_shuffled.groupby("movie_id", sort=False).head(n)
        rest = val.drop(shown.index)
        als_n, inter_n = als_on(pd.concat([fit, shown]))
        mapped = mapped_factors(content, als_n.item_factors, rated, chosen, folds=2)
        people_n = np.array(sorted(set(rest["user_id"]) & set(inter_n.user_index)))
        users_n = als_n.fold_in(inter_n.rows(people_n.tolist()))
        relevant_n = [set(g) for g in rest.groupby("user_id")["movie_id"].agg(list).loc[people_n]]
        seen = inter_n.rows(people_n.tolist())[:, hidden_cols].toarray() > 0
        counts = np.asarray((inter_n.matrix > 0).sum(axis=0)).ravel()[:, None].astype(np.float32)
        values = []
        for vectors in (als_n.item_factors, mapped,
                        *((counts * als_n.item_factors + b * mapped) / (counts + b) for b in blends)):
            scores = users_n @ vectors[hidden_cols].T
            scores[seen] = -np.inf
            values.append(recall_at_k(hidden[top_n(scores, 20)[0]], relevant_n, 20).mean)
        print(f"| {n} | " + " | ".join(f"{v:.4f}" for v in values) + f" | {len(people_n)} |", flush=True)


def _block_columns(items: object) -> dict[str, np.ndarray]:
    """The content-feature columns of each block, in :func:`~recommender.ranking.tables.content_features` order."""
    from recommender.ranking.tables import TOKEN_DIMENSIONS, YEAR_BINS

    sizes = [("embeddings", sum(v.shape[1] for v in items.vectors.values())),  # type: ignore[attr-defined]
             ("genres and year", items.genres.shape[1] + len(YEAR_BINS)),  # type: ignore[attr-defined]
             ("metadata tokens", min(TOKEN_DIMENSIONS, items.metadata("content").shape[1]))]  # type: ignore[attr-defined]
    out, start = {}, 0
    for name, size in sizes:
        out[name] = np.arange(start, start + size)
        start += size
    return out


if __name__ == "__main__":
    main()
