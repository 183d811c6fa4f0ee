"""A quick evaluation anyone can start from the app: protocol A on a seeded sample of the index's own users, every
model ``cinefuse evaluate`` compares, written as the same report (markdown tables, PNG charts, results.json).

It answers "is this index any good?" in about a minute on a laptop; ``cinefuse evaluate`` on all users (with
paired intervals) is the measurement to quote.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from index.errors import CinefuseError

if TYPE_CHECKING:
    from recommender.api import Recommender

#: people sampled, and the seed that picks them (fixed, so two runs on one index give the same table)
QUICK_USERS = 60
QUICK_SEED = 0


def sample_users(ratings: pd.DataFrame, n: int, seed: int = QUICK_SEED, min_ratings: int = 5) -> pd.DataFrame:
    """Every rating of ``n`` people drawn at random (seeded) among those with at least ``min_ratings`` ratings,
    so each keeps a training and a test part under protocol A. All eligible people when there are fewer.

    Example:
        >>> df = pd.DataFrame({"user_id": [1] * 5 + [2] * 5 + [3], "movie_id": range(11), "rating": 4.0,
        ...                    "timestamp": range(11)})
        >>> sorted(sample_users(df, 1, seed=0)["user_id"].unique().tolist()) in ([1], [2])
        True
        >>> sample_users(df, 10)["user_id"].nunique()
        2
    """
    if n < 1:
        raise CinefuseError(f"sample_users: n must be at least 1, got {n}")
    counts = ratings.groupby("user_id").size()
    eligible = np.sort(counts.index[counts >= min_ratings].to_numpy())
    chosen = eligible if n >= len(eligible) else np.random.default_rng(seed).choice(eligible, n, replace=False)
    return ratings[ratings["user_id"].isin(chosen)].reset_index(drop=True)


def quick_evaluation(rec: Recommender, out_dir: Path, *, users: int = QUICK_USERS, seed: int = QUICK_SEED,
                     progress: Callable[[float, str], None] | None = None) -> Path:
    """Protocol A on ``users`` sampled people of ``rec``'s ratings, model by model (``progress(fraction, what)``
    before each), then the report in ``out_dir``. Returns ``out_dir``.

    Example:
        >>> # quick_evaluation(Recommender.open("runs/index"), Path("runs/quick-eval"), progress=print)
    """
    from recommender.evaluation.experiments import evaluate_protocol, model_factories, write_report

    sample = sample_users(rec.ratings(), users, seed)
    if sample.empty:
        raise CinefuseError("this index has no person with 5 or more ratings to evaluate on: build it with a "
                            "ratings file (cinefuse build --data DIR)")
    names = list(model_factories(rec.items, "A"))
    frames = []
    for i, name in enumerate(names):
        if progress is not None:
            progress(i / len(names), f"Protocol A: {name} ({i + 1} of {len(names)})")
        frames.append(evaluate_protocol(sample, rec.items, "A", only=[name]))
    frame = pd.concat(frames)
    frame.attrs = {"rmse": frames[0].attrs["rmse"], "mae": frames[0].attrs["mae"], "paired": {}}
    n_people = sample["user_id"].nunique()
    text = write_report({"A": frame}, None, Path(out_dir),
                        f"quick check: {n_people} people sampled from this index's ratings, seed {seed}")
    (Path(out_dir) / "report.md").write_text(
        text + f"\nOn {n_people} people a gap of a few hundredths of nDCG@10 is within the luck of the sample; "
        "`cinefuse evaluate` on every person gives the paired intervals to quote.\n")
    if progress is not None:
        progress(1.0, "Done")
    return Path(out_dir)
