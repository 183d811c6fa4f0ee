"""What the validation benchmarks share: the movies' content from a built index and the MovieLens ratings."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any


def items_and_ratings(store: str, data: str) -> tuple[Any, Any]:
    """The index's :class:`~recommender.ranking.fusion.ItemTable` (read from a copy, so the store's lock stays free for
    other work) and the ratings frame of the MovieLens release under ``data``.

    Example:
        >>> # items, ratings = items_and_ratings("runs/index", "../shared/data")
    """
    from index.catalog import find_movielens_dir
    from index.sources import load_movielens
    from index.store import open_store
    from recommender.ranking.fusion import ItemTable

    work = Path(tempfile.mkdtemp(prefix="cinefuse-bench-"))
    try:
        shutil.copytree(store, work / "index")
        with open_store(str(work / "index")) as copy:
            items = ItemTable.from_store(copy)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return items, load_movielens(find_movielens_dir(data)).ratings
