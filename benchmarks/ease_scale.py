"""Which EASE above a catalogue size: dense EASE where it fits, EASE on the most-rated movies only, or SANSA's sparse
approximate inverse, compared on a validation split nested inside protocol A's training data (never its test).

    python benchmarks/ease_scale.py --data runs/synth/1m/ml-1m-synth --keep 0 5000 10000 --users 5000
    PYTHONPATH=/path/to/sansa-install python benchmarks/ease_scale.py --data ... --sansa 0.001 0.005

``--keep 0`` is dense EASE on every movie. SANSA runs only where the ``sansa`` package imports (it needs
scikit-sparse, which builds against SuiteSparse); it is not a dependency of cinefuse.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.sources import load_movielens  # noqa: E402
from recommender.evaluation.protocol import evaluate_model, split_protocol  # noqa: E402
from recommender.ranking.collaborative import ALSModel, EASEModel, ItemKNNModel, RecommenderBase  # noqa: E402
from recommender.ranking.interactions import Weighting  # noqa: E402
from recommender.ranking.splits import split_latest  # noqa: E402


class SansaModel(RecommenderBase):
    """SANSA (Spisak et al., RecSys 2023) behind cinefuse's model interface, for this comparison only."""

    def __init__(self, density: float, l2: float = 20.0) -> None:
        from sansa import SANSA as Sansa
        from sansa import (
            ICFGramianFactorizerConfig,
            SANSAConfig,
            UMRUnitLowerTriangleInverterConfig,
        )

        config = SANSAConfig(l2=l2, weight_matrix_density=density,
                             gramian_factorizer_config=ICFGramianFactorizerConfig(),
                             lower_triangle_inverter_config=UMRUnitLowerTriangleInverterConfig(scans=1,
                                                                                                finetune_steps=5))
        self.model = Sansa(config)

    def fit(self, user_items: csr_matrix, show_progress: bool = False) -> None:
        self.user_items = csr_matrix(user_items, dtype=np.float32)
        self.model.fit(self.user_items)

    def score(self, user_items: csr_matrix) -> np.ndarray:
        return np.asarray(self.model.forward(self._as_rows(user_items)).toarray(), dtype=np.float32)

    def nbytes(self) -> int:
        return sum(w.data.nbytes + w.indices.nbytes + w.indptr.nbytes for w in self.model.weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a MovieLens release folder")
    parser.add_argument("--keep", nargs="*", type=int, default=[5000, 10000, 20000],
                        help="EASE on this many most-rated movies (0: every movie, dense)")
    parser.add_argument("--sansa", nargs="*", type=float, default=[], help="SANSA weight densities to try")
    parser.add_argument("--users", type=int, default=5000, help="validation users sampled (seed 42)")
    parser.add_argument("--l2", type=float, default=300.0)
    parser.add_argument("--knn-shrinkage", nargs="*", type=float, default=[],
                        help="also item-kNN (20 neighbours) with these shrinkages")
    args = parser.parse_args()

    ratings = load_movielens(args.data).ratings
    train, _ = split_protocol(ratings, "A")
    fit, validation = split_latest(train, 0.2)
    n_movies = fit["movie_id"].nunique()
    counts = fit["movie_id"].value_counts().to_numpy()
    print(f"{args.data}: {len(fit):,} fitting ratings, {n_movies:,} movies, validation users sampled: {args.users}")
    models: list[tuple[str, RecommenderBase, Weighting]] = [("ALS (peer)", ALSModel(), "confidence")]
    models += [(f"item-kNN, shrinkage {s:g}{', fast' if fast else ''}", ItemKNNModel(shrinkage=s, fast=fast), "rating")
               for s in args.knn_shrinkage for fast in (False, True)]
    for keep in args.keep:
        share = counts[:keep].sum() / counts.sum() if keep else 1.0
        name = "dense EASE, every movie" if keep == 0 else f"EASE on the {keep:,} most-rated ({share:.1%} of ratings)"
        models.append((name, EASEModel(l2=args.l2, max_items=keep or None), "binary"))
    for density in args.sansa:
        try:
            models.append((f"SANSA, weight density {density:g}", SansaModel(density), "binary"))
        except ImportError as exc:
            print(f"SANSA skipped: {exc}")
            break
    rows = []
    for name, model, weighting in models:
        started = time.perf_counter()
        r = evaluate_model(model, fit, validation, weighting=weighting, sample_users=args.users)
        if isinstance(model, SansaModel):
            size = model.nbytes()
        elif isinstance(model, EASEModel):
            assert model.weights is not None
            size = model.weights.nbytes
        else:
            size = 0
        rows.append((name, r["ndcg@10"], r["recall@20"], r["fit_seconds"], size / 2**20, time.perf_counter() - started))
        print(f"  {name}: nDCG@10 {r['ndcg@10']:.4f}", flush=True)
    print(f"\nprocess peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB\n")
    print("| model | nDCG@10 | Recall@20 | fit s | weights MiB | total s |\n|---|---|---|---|---|---|")
    for name, ndcg, recall, fit_s, mib, total in rows:
        print(f"| {name} | {ndcg:.4f} | {recall:.4f} | {fit_s:.0f} | {mib:,.0f} | {total:.0f} |")


if __name__ == "__main__":
    main()
