"""An embedding cache keyed by model and content hash, so an interrupted build resumes without re-encoding."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm.auto import tqdm

T = TypeVar("T")
log = logging.getLogger(__name__)


def content_key(*parts: str | bytes) -> str:
    """A stable hash of the content an embedding was made from.

    Example:
        >>> content_key("a heist") == content_key("a heist")
        True
    """
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()


class EmbeddingCache:
    """Vectors in one SQLite file, keyed by (model, content hash); ``":memory:"`` keeps them in RAM.

    Example:
        >>> cache = EmbeddingCache(":memory:")
        >>> cache.put("m", {"k": np.ones(2, dtype=np.float32)})
        >>> cache.get("m", ["k", "missing"])["k"].tolist()
        [1.0, 1.0]
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vec BLOB, "
                         "PRIMARY KEY (model, key))")

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, vec FROM vectors WHERE model=? AND key IN ({marks})",
                                    [model, *chunk])
            out.update({k: np.frombuffer(v, dtype=np.float32).copy() for k, v in rows})
        return out

    def put(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                             [(model, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in vectors.items()])
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def encode_cached(cache: EmbeddingCache, model: str, items: Sequence[T], keys: Sequence[str],
                  encode: Callable[[Sequence[T]], np.ndarray], *, chunk_size: int = 256,
                  desc: str = "encoding", unit: str = "item", progress: bool = True) -> np.ndarray:
    """Vectors for ``items``: cached ones are read, the rest encoded in chunks and cached as each finishes.

    Example:
        >>> cache = EmbeddingCache(":memory:")
        >>> f = lambda xs: np.array([[len(x), 1.0] for x in xs], dtype=np.float32)
        >>> encode_cached(cache, "len", ["ab", "c"], ["k1", "k2"], f, progress=False).tolist()
        [[2.0, 1.0], [1.0, 1.0]]
    """
    found = cache.get(model, keys)
    todo = [i for i, k in enumerate(keys) if k not in found]
    log.info("%s: %d of %d read from the cache, %d to encode", desc, len(keys) - len(todo), len(keys), len(todo))
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, unit=unit, disable=not progress,
               dynamic_ncols=True)
    for start in range(0, len(todo), chunk_size):
        idx = todo[start:start + chunk_size]
        vecs = np.asarray(encode([items[i] for i in idx]), dtype=np.float32)
        fresh = {keys[i]: vecs[j] for j, i in enumerate(idx)}
        cache.put(model, fresh)
        found.update(fresh)
        bar.update(len(idx))
    bar.close()
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([found[k] for k in keys])

