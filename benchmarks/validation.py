"""Choose the ranker's design on validation splits nested inside each protocol's training data, never on its
test split: protocol A's latest 20% of each person's training ratings, protocol B's random 25% (seed 42),
protocol C's people (20% of the training people held out, seed 7, shown as 1, 3, 5 and 10 liked movies; with
--people-folds K, K disjoint such hold-outs pooled), and
cold-start items (10% of the training movies with content held out, seed 7). Prints nDCG@10 (Recall@20 for cold
start) of the trained fusion per setting, with EASE and ALS on the same split as peers under A and B, every
baseline under C and cold start; with --designs, each design's paired difference from the first one.

    python benchmarks/validation.py --store runs/index --data ../shared/data --folds 1 3
    python benchmarks/validation.py --protocols B --holdout 0.1 --seeds 42 43 --folds 3 --fold-share 0.25
    python benchmarks/validation.py --protocols B --holdout 0.1 --seeds 42 43   # the default: 4 folds of 10%
    python benchmarks/validation.py --protocols C cold A --designs chosen "no few-shot folds"
    python benchmarks/validation.py --protocols C --people-folds 4 --designs chosen "without content"
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def designs() -> dict[str, dict[str, Any]]:
    """The fusion designs compared: name -> keyword arguments of FusionModel (on top of the protocol's own)."""
    from recommender.evaluation.experiments import NO_CONTENT
    from recommender.ranking.fusion import ERA_FEATURES, FEATURES, METADATA_FEATURES

    def without(*names: str) -> tuple[str, ...]:
        return tuple(f for f in FEATURES if f not in names)

    return {
        "chosen": {},
        "no few-shot folds": {"few_shot_folds": 0},
        "2 few-shot folds": {"few_shot_folds": 2},
        "C folds only": {"validation": "C"},
        "without content": {"features": NO_CONTENT},
        "without era features": {"features": without(*ERA_FEATURES)},
        "without era popularity": {"features": without("era_popularity")},
        "without release age": {"features": without("release_age")},
        "without history span": {"features": without("history_span")},
        "without history popularity": {"features": without("history_popularity")},
        "without span or history popularity": {"features": without("history_span", "history_popularity")},
        "no era candidates": {"era_candidates": 0},
        "without metadata features": {"features": without(*METADATA_FEATURES, "metadata_rank")},
        "one metadata feature, no groups": {"features": without("meta_people", "meta_studio", "meta_keywords")},
        "without the content map": {"content_map": None},
        "content-map candidates 50": {"content_candidates": 50},
        "modality dropout 0.3": {"content_dropout": 0.3},
        "undated read as now": {"dateless_weight": 0.0},
        "undated: half each": {"dateless_weight": 0.5},
        "dated: the era's ranker alone": {"dated_dateless": (0, 0.0)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="runs/index")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--protocols", nargs="+", default=["A", "B"], choices=["A", "B", "C", "cold"])
    parser.add_argument("--designs", nargs="+", default=None, help=f"fusion designs to compare: {list(designs())}")
    parser.add_argument("--folds", nargs="+", type=int, default=[0],
                        help="validation folds the ranker learns from (0: the protocol's default)")
    parser.add_argument("--fold-share", type=float, default=None,
                        help="share of ratings each ranker fold holds out (default: the protocol's)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42], help="protocol B: seeds of the validation split")
    parser.add_argument("--holdout", type=float, default=0.25,
                        help="protocol B: share of each person's training ratings the validation split holds out")
    parser.add_argument("--people-folds", type=int, default=1,
                        help="protocol C: pool this many disjoint 20%% hold-outs of the training people (1: seed 7's)")
    parser.add_argument("--no-peers", action="store_true", help="skip the baseline rows")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from benchmarks.common import items_and_ratings
    from index.catalog import find_movielens_dir
    from index.sources import load_movielens
    from recommender.evaluation.experiments import cold_start_recall, evaluate_new_people, items_with_training_tags
    from recommender.evaluation.metrics import ndcg_at_k, paired_difference
    from recommender.evaluation.protocol import BASELINES, rank_test_users, ranking_metrics, split_protocol
    from recommender.ranking.fusion import CONTENT_SIGNALS, FusionModel
    from recommender.ranking.splits import split_cold_items, split_latest, split_new_people, split_random

    items, ratings = items_and_ratings(args.store, args.data)
    tags = load_movielens(find_movielens_dir(args.data)).tags
    table = designs()
    chosen = args.designs or []
    if [d for d in chosen if d not in table]:
        raise SystemExit(f"unknown design(s) {[d for d in chosen if d not in table]}; choose among {list(table)}")

    def design(protocol: str, name: str) -> Any:
        kwargs = {"validation": "B" if protocol == "cold" else "A" if protocol == "C" else protocol, **table[name]}
        return lambda items_: FusionModel(items_, **kwargs)

    rows: list[tuple[str, str, float, float, float]] = []
    paired: list[tuple[str, str, float, float, float]] = []

    def compare(label: str, per_user: dict[str, np.ndarray]) -> None:
        for name in chosen[1:]:
            if name in per_user and chosen[0] in per_user:
                paired.append((label, name, *paired_difference(per_user[chosen[0]], per_user[name])))

    periods: list[tuple[str, str, str, float, int, str]] = []

    def by_period(n: int, per_user: dict[str, np.ndarray], when: np.ndarray) -> None:
        """Each row's protocol-C nDCG@10 by when its people rated (their median rating's year), and its paired
        difference from the first design's (dated rows from its dated row, rows without dates from its own)."""
        years = pd.to_datetime(when, unit="s").year
        for label, keep in (("before 2009", years < 2009), ("2009-2015", (years >= 2009) & (years < 2016)),
                            ("2016-2018", years >= 2016)):
            for name, values in per_user.items():
                undated = name.endswith("without dates")
                first = next(r for r in per_user if r.endswith("without dates") == undated)
                gap = ("" if name == first else "{:+.4f} [{:+.4f}, {:+.4f}]".format(
                    *paired_difference(values[keep], per_user[first][keep])))
                periods.append((f"C, n={n}", label, name, float(np.nanmean(values[keep])), int(keep.sum()), gap))

    runs = [(p, seed) for p in args.protocols for seed in (args.seeds if p == "B" else [42])]
    for protocol, seed in runs:
        if protocol == "C":
            train, held = split_new_people(ratings, 0.2, seed=42)
            outer = tags[~tags["user_id"].isin(held["user_id"].unique())]
            frames = []
            if not args.no_peers:
                names = [*BASELINES, *(f"{s} only" for s in CONTENT_SIGNALS if items.has(s).any())]
                frames.append(evaluate_new_people(train, items, seed=7, tags=outer, only=names,
                                                  folds=args.people_folds))
            if chosen:
                t = time.perf_counter()
                frames.append(evaluate_new_people(train, items, seed=7, tags=outer, folds=args.people_folds,
                                                  designs={d: design("C", d) for d in chosen}))
                print(f"  C: {len(chosen)} designs in {time.perf_counter() - t:.0f} s", flush=True)
                for n, per_user in frames[-1].attrs["per_user"].items():
                    compare(f"C, n={n}", per_user)
                    by_period(n, per_user, frames[-1].attrs["when"][n])
            for frame in frames:
                for (name, n), r in frame.iterrows():
                    rows.append((f"C, n={n}", str(name), r["ndcg@10"], r["recall@20"], r["seconds"]))
            continue
        if protocol == "cold":
            with_content = [int(m) for i, m in enumerate(items.item_ids)
                            if any(items.has(s)[i] for s in CONTENT_SIGNALS)]
            train, test = split_cold_items(ratings, with_content, frac=0.1, seed=42)
            outer = tags[~tags["movie_id"].isin(test["movie_id"].unique())]
            t = time.perf_counter()
            only = None if not args.no_peers else chosen
            frame = cold_start_recall(train, items, seed=7, tags=outer, only=only,
                                      designs={d: design("cold", d) for d in chosen} if chosen else None)
            for name, value in frame["recall@20"].items():
                rows.append(("cold start", str(name), float("nan"), float(value), time.perf_counter() - t))
            compare("cold start", frame.attrs["per_user"])
            continue
        train, test = split_protocol(ratings, protocol)
        fit, validation = split_latest(train, 0.2) if protocol == "A" else split_random(train, args.holdout, seed=seed)
        label = protocol if protocol == "A" else f"B, {args.holdout:.0%} held out, seed {seed}"
        items_ = items_with_training_tags(items, tags, exclude_pairs=pd.concat([test, validation]))
        models: dict[str, tuple[Any, Any]] = {}
        if not args.no_peers:
            models.update({f"{name} (peer)": BASELINES[name] for name in ("EASE", "ALS")})
        models.update({name: (partial(design(protocol, name), items_), "confidence") for name in chosen})
        if not chosen:
            for folds in args.folds:
                make = partial(FusionModel, items_, validation=protocol, folds=folds or None,
                               validation_frac=args.fold_share)
                probe = make()
                name = f"fusion, {probe.folds} fold{'s' * (probe.folds > 1)} of {probe.validation_frac:.0%}"
                models[name] = (make, "confidence")
        per_user = {}
        for name, (factory, weighting) in models.items():
            t = time.perf_counter()
            ranking = rank_test_users(factory(), fit, validation, 20, weighting=weighting)
            r = ranking_metrics(ranking)
            per_user[name] = ndcg_at_k(ranking.ranked, ranking.relevant, 10).per_user
            rows.append((label, name, r["ndcg@10"], r["recall@20"], time.perf_counter() - t))
            print(f"  {label} {name}: nDCG@10 {r['ndcg@10']:.4f}", flush=True)
        compare(label, per_user)
    print("\n| protocol (validation split) | model | nDCG@10 | Recall@20 | seconds |\n|---|---|---|---|---|")
    for protocol, name, ndcg, recall, seconds in rows:
        print(f"| {protocol} | {name} | {ndcg:.4f} | {recall:.4f} | {seconds:.0f} |")
    if periods:
        print("\n| protocol (validation split) | people who rated | design | nDCG@10 | people | minus the first |"
              "\n|---|---|---|---|---|---|")
        for label, period, name, value, count, gap in periods:
            print(f"| {label} | {period} | {name} | {value:.4f} | {count} | {gap} |")
    if paired:
        print(f"\n| protocol (validation split) | {chosen[0]} minus | difference | 95% interval |\n|---|---|---|---|")
        for label, name, diff, low, high in paired:
            print(f"| {label} | {name} | {diff:+.4f} | [{low:+.4f}, {high:+.4f}] |")


if __name__ == "__main__":
    main()
