"""A whole index in one step: content vectors, the collaborative vectors and the trained ranker, all made in the
staging folder and swapped in together, so a failed or killed build leaves the previous index answering as before.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from encoders.base import ImageEncoder, TextEncoder
from index.build import BuildReport, build_index
from index.catalog import Catalog
from index.config import Settings, artifact_dir
from index.errors import CatalogError
from index.store import METADATA_FILE, VectorStore, open_store
from recommender.api import RANKER_FILE, train_ranker

log = logging.getLogger(__name__)


def build(catalog: Catalog, settings: Settings, text: TextEncoder, image: ImageEncoder | None, *,
          train: bool = True, progress: bool = True, disabled: dict[str, str] | None = None,
          data_dir: str | os.PathLike[str] | None = None) -> BuildReport:
    """Build the index at ``settings.store`` and, with ``train``, its ranker and ``cf`` vectors from the catalog's
    ratings. Without ``train`` (``--no-cf``) the previous index's ranker and ``cf`` vectors are carried over
    where there is one, else the index answers search and similar only. A catalog with no ratings is refused
    unless ``train`` is off: an index without a ranker cannot recommend.

    Example:
        >>> # build(catalog_from_data_dir("../shared/data"), Settings(store="runs/index"), load_text_encoder(), None)
    """
    if train and catalog.ratings.empty:
        where = catalog.sources.get("movielens", "the MovieLens folder")
        raise CatalogError(f"{where}: the ratings file holds no ratings (only a header?). cinefuse learns its "
                           "ranker from ratings: add them, or pass --no-cf to build an index for search and "
                           "similar movies only", path=where)
    previous = None if train else _previous_artifacts(settings, set(catalog.movies))

    def finish(store: VectorStore, folder: Path | None) -> dict[str, Any]:
        target = folder if folder is not None else artifact_dir(settings)
        if train:
            return train_ranker(catalog.ratings, store, settings, folder=target)
        if previous is None:
            log.warning("no ranker: --no-cf on an index that had none, so this index answers search and similar "
                        "but not recommend; build again without --no-cf to train one")
            return {"ranker": None}
        ranker, cf, info = previous
        store.set_vectors("cf", cf)
        target.mkdir(parents=True, exist_ok=True)
        if ranker.resolve() != (target / RANKER_FILE).resolve():
            shutil.copy2(ranker, target / RANKER_FILE)
        log.info("--no-cf: kept the previous ranker and %d cf vectors", len(cf))
        return {"ranker": info}

    return build_index(catalog, settings, text, image, progress=progress, disabled=disabled, finish=finish,
                       data_dir=data_dir)


def _previous_artifacts(settings: Settings, movie_ids: set[int]) -> tuple[Path, dict[int, Any], Any] | None:
    """The current index's ranker file, its ``cf`` vectors of the movies still in the catalog, and its record."""
    ranker = artifact_dir(settings) / RANKER_FILE
    local = not settings.is_server() and settings.store != ":memory:"
    if not ranker.is_file() or (local and not (Path(settings.store).expanduser() / METADATA_FILE).is_file()):
        return None
    with open_store(settings.store, api_key=settings.api_key, collection=settings.collection,
                    timeout_s=settings.server_timeout_s) as store:
        schema = store.schema()
        if schema is None or "cf" not in schema.vectors:
            return None
        ids = sorted(movie_ids & set(store.payloads()))
        cf = {}
        for start in range(0, len(ids), 1000):
            for mid, vecs in store.vectors(ids[start:start + 1000], ["cf"]).items():
                if "cf" in vecs and vecs["cf"].any():
                    cf[mid] = vecs["cf"]
        return ranker, cf, schema.info.get("ranker")
