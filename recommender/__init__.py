"""Collaborative vectors, recency-weighted profiles, fusion ranking, evaluation and explanations.

``from recommender import Recommender`` is the Python API (imported on first use, so that the light modules
stay light).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Recommendation", "Recommender"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from recommender import api

        return getattr(api, name)
    raise AttributeError(f"module 'recommender' has no attribute {name!r}")
