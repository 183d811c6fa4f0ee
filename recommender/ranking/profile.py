"""A person's history becomes one weighted query per signal: recent likes pull hardest, dislikes push."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_HALF_LIFE_DAYS = 365.0
DISLIKE_WEIGHT = 0.5


@dataclass(frozen=True)
class Interaction:
    """One thing a person told us about a movie: a rating (0.5-5), or a like/dislike, and when.

    Example:
        >>> Interaction(1, rating=4.5).sentiment()
        0.75
        >>> Interaction(2, liked=False).sentiment()
        -1.0
    """

    movie_id: int
    rating: float | None = None
    liked: bool | None = None
    timestamp: float | None = None

    def sentiment(self, neutral: float = 3.0) -> float:
        """+1 for a like, -1 for a dislike; a rating maps linearly around ``neutral`` to [-1, 1]."""
        if self.liked is not None:
            return 1.0 if self.liked else -1.0
        if self.rating is None:
            return 1.0  # a bare watch-history entry counts as a like
        return max(-1.0, min(1.0, (float(self.rating) - neutral) / 2.0))


def recency_weights(timestamps: Sequence[float | None] | np.ndarray, half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
                    now: float | None = None) -> np.ndarray:
    """Exponential decay by age: an interaction ``half_life_days`` older than ``now`` weighs half as much.

    ``now`` defaults to the newest timestamp (so a history from 2005 is judged relative to itself); a missing
    timestamp counts as ``now``; ``half_life_days <= 0`` or ``inf`` turns recency off.

    Example:
        >>> recency_weights([0, 86400 * 10, 86400 * 20], half_life_days=10).round(3).tolist()
        [0.25, 0.5, 1.0]
    """
    ts = np.array([np.nan if t is None else float(t) for t in timestamps], dtype=np.float64)
    if ts.size == 0:
        return ts.astype(np.float32)
    if not np.isfinite(half_life_days) or half_life_days <= 0:
        return np.ones(ts.size, dtype=np.float32)
    ref = now if now is not None else (np.nanmax(ts) if np.isfinite(ts).any() else time.time())
    age_days = np.clip(ref - np.where(np.isnan(ts), ref, ts), 0, None) / 86400.0
    return np.power(0.5, age_days / half_life_days).astype(np.float32)


def interaction_weights(history: Sequence[Interaction], half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
                        neutral: float = 3.0) -> dict[int, float]:
    """Signed weight per movie: sentiment x recency (a movie seen twice keeps its latest opinion).

    Example:
        >>> interaction_weights([Interaction(1, liked=True), Interaction(2, rating=1.0)])
        {1: 1.0, 2: -1.0}
    """
    latest: dict[int, Interaction] = {}
    for item in history:
        prev = latest.get(item.movie_id)
        if prev is None or (item.timestamp or 0) >= (prev.timestamp or 0):
            latest[item.movie_id] = item
    items = list(latest.values())
    recency = recency_weights([i.timestamp for i in items], half_life_days)
    return {i.movie_id: float(i.sentiment(neutral) * r) for i, r in zip(items, recency, strict=True)}


def profile_vector(weights: Mapping[int, float], vectors: Mapping[int, np.ndarray],
                   dislike_weight: float = DISLIKE_WEIGHT) -> np.ndarray | None:
    """The query for one signal: the weighted mean of liked movies' vectors minus ``dislike_weight`` times that
    of disliked ones, L2-normalised; None when no weighted movie has this signal.

    Example:
        >>> v = {1: np.array([1.0, 0.0]), 2: np.array([0.0, 1.0])}
        >>> [round(float(x), 3) for x in profile_vector({1: 1.0, 2: -1.0}, v)]
        [0.894, -0.447]
    """
    pos = [(w, vectors[m]) for m, w in weights.items() if w > 0 and m in vectors and np.any(vectors[m])]
    neg = [(-w, vectors[m]) for m, w in weights.items() if w < 0 and m in vectors and np.any(vectors[m])]
    if not pos and not neg:
        return None
    out = np.zeros_like(next(iter(vectors.values())), dtype=np.float64)
    if pos:
        out += sum(w * _unit(v) for w, v in pos) / sum(w for w, _ in pos)
    if neg:
        out -= dislike_weight * sum(w * _unit(v) for w, v in neg) / sum(w for w, _ in neg)
    norm = np.linalg.norm(out)
    return (out / norm).astype(np.float32) if norm > 0 else None


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v
