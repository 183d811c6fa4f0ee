"""Vector-store queries: text to movies, and movies like a movie, per signal or fused."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from encoders.base import ImageEncoder, TextEncoder
from index.errors import InputError, StoreError
from index.store import Filters, Hit, SignalQuery, VectorStore

Signal = Literal["overview", "reviews", "poster", "cf"]
By = Literal["overview", "reviews", "poster", "cf", "fused"]
TEXT_SIGNALS: tuple[Signal, ...] = ("overview", "reviews", "poster")
# A description reads like a plot summary, so in a fused text search the overview leads: with equal weights,
# review vectors (which mostly discuss acting and pacing) put off-topic films in the top three.
TEXT_WEIGHTS: dict[str, float] = {"overview": 1.0, "reviews": 0.35, "poster": 0.5}


def check_query(text: object) -> str:
    """A description to search for, stripped; empty or non-text queries get an :class:`InputError`.

    Example:
        >>> check_query("  a heist ")
        'a heist'
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"a search needs a description, e.g. 'a heist that goes wrong' (got {text!r})")
    return text.strip()


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InputError(f"the number of results must be a whole number from 1 to 1000, got {limit!r}")
    return limit


def stored_signals(store: VectorStore) -> list[str]:
    """The named vectors this store holds for at least one movie (a build records how many each has; ``cf`` is
    filled after the count).

    Example:
        >>> from index.store import open_store
        >>> stored_signals(open_store(":memory:"))
        []
    """
    schema = store.schema()
    if schema is None:
        return []
    counts = schema.info.get("vector_counts") or {}
    return [name for name in schema.vectors if name == "cf" or counts.get(name, 1) > 0]


def text_queries(text: str, store: VectorStore, text_encoder: TextEncoder,
                 image_encoder: ImageEncoder | None = None, by: By = "fused") -> list[SignalQuery]:
    """One query per signal a free-text description can reach: overview and reviews through the text model,
    posters through CLIP's text tower (when the index has poster vectors and the CLIP model is loaded).

    Example:
        >>> # text_queries("a heist that goes wrong", store, load_text_encoder())
    """
    available = stored_signals(store)
    wanted = [s for s in TEXT_SIGNALS if s in available] if by == "fused" else [by]
    if by == "cf":
        raise StoreError("free text cannot be searched by 'cf' (collaborative vectors come from ratings); "
                         "use --by overview, reviews, poster or fused")
    queries: list[SignalQuery] = []
    text_vec: np.ndarray | None = None
    for signal in wanted:
        if signal not in available:
            raise StoreError(f"this index has no '{signal}' vectors (it has {', '.join(available)})")
        if signal == "poster":
            if image_encoder is None:
                if by == "poster":
                    raise StoreError("searching posters by text needs the CLIP model that built them; "
                                     "it is not loaded (see the warning above)")
                continue
            queries.append(SignalQuery("poster", vector=image_encoder.encode_text([text])[0],
                                       weight=TEXT_WEIGHTS["poster"]))
        else:
            if text_vec is None:
                text_vec = text_encoder.encode([text])[0]
            queries.append(SignalQuery(signal, vector=text_vec, weight=TEXT_WEIGHTS[signal]))
    return queries


def search_text(text: str, store: VectorStore, text_encoder: TextEncoder, image_encoder: ImageEncoder | None = None,
                *, by: By = "fused", filters: Filters | None = None, limit: int = 10) -> list[Hit]:
    """Movies whose overview, reviews or poster match a description, best first.

    Example:
        >>> # search_text("a heist that goes wrong", store, load_text_encoder(), limit=5)
    """
    text, limit = check_query(text), check_limit(limit)
    queries = text_queries(text, store, text_encoder, image_encoder, by)
    if not queries:
        raise StoreError(f"this index has no text vectors to search (it holds {', '.join(stored_signals(store))}): "
                         "it was built from data without overviews or reviews; rebuild it with a TMDB file or "
                         "reviews in the data folder")
    return store.fuse(queries, limit=limit, filters=filters)


def similar_movies(movie_id: int, store: VectorStore, *, by: By = "fused", filters: Filters | None = None,
                   limit: int = 10) -> list[Hit]:
    """Movies like ``movie_id`` by one signal or by all the signals it has (reciprocal rank fusion).

    Example:
        >>> # similar_movies(1, store, by="overview")  # Toy Story -> animated family films
    """
    limit = check_limit(limit)
    available = stored_signals(store)
    names = available if by == "fused" else [by]
    if by != "fused" and by not in available:
        raise StoreError(f"this index has no '{by}' vectors (it has {', '.join(available)})")
    payload = store.payloads([movie_id]).get(movie_id)
    if payload is None:
        raise InputError(f"no movie with id {movie_id} in this index; find its id with `cinefuse search` or use a "
                         "title")
    own = store.vectors([movie_id], names).get(movie_id, {})
    queries = [SignalQuery(name, vector=vec) for name, vec in own.items() if np.any(vec)]
    if not queries:
        title = payload.get("display_title", f"movie {movie_id}")
        what = "signal" if by == "fused" else f"'{by}' vector"
        raise StoreError(f"{title} has no {what} in this index, so nothing can be compared to it")
    base = filters or Filters()
    flt = replace(base, exclude_ids=[movie_id, *base.exclude_ids])
    return store.fuse(queries, limit=limit, filters=flt)
