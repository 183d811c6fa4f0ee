"""Collaborative vectors in the store: ALS item factors become each movie's ``cf`` named vector."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from index.config import Settings
from index.store import VectorStore, open_store
from recommender.collaborative import ALSModel
from recommender.interactions import Interactions

log = logging.getLogger(__name__)


def train_item_factors(ratings: pd.DataFrame, factors: int, show_progress: bool = False) -> dict[int, np.ndarray]:
    """Fit implicit ALS on confidence-weighted ratings and return each rated movie's factors.

    Example:
        >>> df = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 20, 20], "rating": [5.0, 4.0, 3.0]})
        >>> sorted(train_item_factors(df, factors=2))
        [10, 20]
    """
    inter = Interactions.from_ratings(ratings, weighting="confidence")
    model = ALSModel(factors=factors)
    model.fit(inter.matrix, show_progress=show_progress)
    return {int(mid): model.item_factors[i] for i, mid in enumerate(inter.item_ids)}


def store_collaborative_vectors(ratings: pd.DataFrame, settings: Settings, store: VectorStore | None = None) -> int:
    """Train ALS and write the ``cf`` vector of every rated movie in the index; returns how many were written.

    Movies with no ratings keep no ``cf`` vector (they are found through their content signals).

    Example:
        >>> # store_collaborative_vectors(catalog.ratings, Settings(store="runs/index"))
    """
    start = time.perf_counter()
    factors = train_item_factors(ratings, settings.cf_factors)
    target = store or open_store(settings.store, api_key=settings.api_key, collection=settings.collection)
    try:
        known = set(target.payloads())
        target.set_vectors("cf", {mid: v for mid, v in factors.items() if mid in known})
    finally:
        if store is None:
            target.close()
    written = len(known & set(factors))
    log.info("cf: %d movies got ALS vectors (%d factors) in %.1fs", written, settings.cf_factors,
             time.perf_counter() - start)
    return written
