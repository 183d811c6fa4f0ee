"""Vector-store queries: text to movies (dense, BM25, or both fused), a request read by the query parser, and
movies like a movie, per signal or fused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import numpy as np

from encoders.base import ImageEncoder, TextEncoder
from index.errors import InputError, StoreError
from index.match import MatchFacts, match_facts, thin_note
from index.query import TONE_GENRES, TONES, ParsedQuery, Vocabulary, describe_list, parse_query
from index.sparse import SPARSE_SIGNAL, SparseEncoder, load_sparse_encoder
from index.store import FieldMatch, Filters, FusionMethod, Hit, SignalQuery, VectorStore, rrf_term

Signal = Literal["overview", "reviews", "poster", "cf"]
By = Literal["overview", "reviews", "poster", "cf", "fused"]


def check_by(by: object) -> None:
    """:class:`InputError` unless ``by`` is one of :data:`By`'s signals ("plot" is no signal, not a missing one).

    Example:
        >>> check_by("plot")
        Traceback (most recent call last):
        ...
        index.errors.InputError: by must be one of overview, reviews, poster, cf, fused; got 'plot'
    """
    if by not in get_args(By):
        raise InputError(f"by must be one of {', '.join(get_args(By))}; got {by!r}")
TEXT_SIGNALS: tuple[Signal, ...] = ("overview", "reviews", "poster")
# A description reads like a plot summary, so in a fused text search the overview leads: with equal weights,
# review vectors (which mostly discuss acting and pacing) put off-topic films in the top three.
TEXT_WEIGHTS: dict[str, float] = {"overview": 1.0, "reviews": 0.35, "poster": 0.5}
#: the BM25 side's weight in the fused search (1, not tuned), and the fusion: RRF, compared with DBSF on the
#: validation half of benchmarks/queries.py (see the README)
SPARSE_WEIGHT = 1.0
FUSION: FusionMethod = "rrf"
#: "like Heat but darker": the words rank only among this many movies most like the referenced ones (per result)
REFERENCE_POOL = 3
#: what orders movies that only have to satisfy constraints ("Christopher Nolan films"): the most rated first
POPULAR_KEY = "rating_count"
#: what a request gets when no movie's document holds any of its words ("asdkjh qwe")
UNKNOWN_WORDS_NOTE = "No movie here mentions any word of “{}”: check the spelling, or describe it another way."
#: what a request that rules out a description ("scary but not gory") is told: it was not searched for
AVOIDED_NOTE = ("I can rule out genres, people, studios, franchises and topics, not a description like “{}”: I left "
                "it out of the search.")
#: a "best ..." request reranks this many times its page of matches by how well each is rated
BEST_POOL = 5
#: "hidden gems", "less mainstream": the less rated sit deeper in a search ranked or backfilled by popularity
OBSCURE_POOL = 4
#: a genre asked "not too" it ("not so scary horror") ranks this many of its most-rated films that are also in
#: the lighter tone's genres (index.query.TONE_GENRES): a horror-comedy pool of 150 put Fido and Night of the Creeps
#: first, one of 30 Warm Bodies, Gremlins and Army of Darkness
SOFTENED_POOL = 30
#: a request that asks only for a tone ranks this many of the most-rated films of the tone's genres
#: (index.query.TONE_GENRES) by its vector queries; benchmarks/queries.py's tone ablation measures it
TONE_POOL = 150
#: a year with at least this many movies is a movie's peer group for how widely seen it is (else its decade)
RENOWN_YEAR_MOVIES = 30
#: the ratings a movie's mean is shrunk with towards the catalogue's (a Bayesian average, as IMDb's top list)
BEST_PRIOR_RATINGS = 20


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
    """The dense named vectors this store holds for at least one movie (a build records how many each has; ``cf``
    is filled after the count). The sparse BM25 vector is apart: see :func:`has_sparse`.

    Example:
        >>> from index.store import open_store
        >>> stored_signals(open_store(":memory:"))
        []
    """
    schema = store.schema()
    if schema is None:
        return []
    counts = schema.info.get("vector_counts") or {}
    return [name for name, spec in schema.vectors.items()
            if spec.kind == "dense" and (name == "cf" or counts.get(name, 1) > 0)]


def encode_query(encoder: TextEncoder, text: str) -> np.ndarray:
    """One request's text vector, encoded on one thread: for a sentence the thread pool only waits on a shared
    CPU (MiniLM on 2 loaded cores in benchmarks/queries.py: p50 223 ms with torch's default threads, 75 ms on one).

    Example:
        >>> # encode_query(load_text_encoder(), "a heist that goes wrong").shape  # (384,)
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return np.asarray(encoder.encode([text])[0])


def text_queries(text: str, store: VectorStore, text_encoder: TextEncoder,
                 image_encoder: ImageEncoder | None = None, by: By = "fused") -> list[SignalQuery]:
    """One query per signal a free-text description can reach: overview and reviews through the text model,
    posters through CLIP's text tower (when the index has poster vectors and the CLIP model is loaded).

    Example:
        >>> # text_queries("a heist that goes wrong", store, load_text_encoder())
    """
    check_by(by)
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
                text_vec = encode_query(text_encoder, text)
            queries.append(SignalQuery(signal, vector=text_vec, weight=TEXT_WEIGHTS[signal]))
    return queries


def has_sparse(store: VectorStore) -> bool:
    """Whether the index holds the sparse BM25 vectors (indexes built before them do not)."""
    schema = store.schema()
    return schema is not None and SPARSE_SIGNAL in schema.vectors and schema.vectors[SPARSE_SIGNAL].kind == "sparse"


def sparse_encoder_for(store: VectorStore) -> SparseEncoder | None:
    """The BM25 encoder the index was built with, or None for an index without sparse vectors.

    Example:
        >>> from index.store import open_store
        >>> sparse_encoder_for(open_store(":memory:")) is None
        True
    """
    if not has_sparse(store):
        return None
    schema = store.schema()
    return load_sparse_encoder(schema.info.get("sparse") if schema is not None else None)


def search_text(text: str, store: VectorStore, text_encoder: TextEncoder, image_encoder: ImageEncoder | None = None,
                *, by: By = "fused", filters: Filters | None = None, limit: int = 10,
                sparse: SparseEncoder | None = None, fusion: FusionMethod = FUSION) -> list[Hit]:
    """Movies whose overview, reviews or poster match a description, best first; with a ``sparse`` encoder (and
    ``by="fused"``) the BM25 vector of each movie's document joins the dense ones in one fused Qdrant query.

    Example:
        >>> # search_text("a heist that goes wrong", store, load_text_encoder(), limit=5)
    """
    text, limit = check_query(text), check_limit(limit)
    queries = text_queries(text, store, text_encoder, image_encoder, by)
    if sparse is not None and by == "fused" and has_sparse(store):
        queries.append(SignalQuery(SPARSE_SIGNAL, vector=sparse.embed_query(text), weight=SPARSE_WEIGHT))
    queries = [q for q in queries if not (q.using == SPARSE_SIGNAL and not q.vector)]
    if not queries:
        raise StoreError(f"this index has no text vectors to search (it holds {', '.join(stored_signals(store))}): "
                         "it was built from data without overviews or reviews; rebuild it with a TMDB file or "
                         "reviews in the data folder")
    return store.fuse(queries, limit=limit, filters=filters, fusion=fusion)


def search_sparse(text: str, store: VectorStore, sparse: SparseEncoder, *, filters: Filters | None = None,
                  limit: int = 10) -> list[Hit]:
    """Movies ranked by BM25 alone: the query's words against each movie's document (Qdrant's idf modifier).

    Example:
        >>> # search_sparse("heist", store, sparse_encoder_for(store))
    """
    vector = sparse.embed_query(check_query(text))
    if not vector:
        return []
    return store.search(SignalQuery(SPARSE_SIGNAL, vector=vector), limit=check_limit(limit), filters=filters)


@dataclass
class SearchResult:
    """The answer to a request: the movies, what the parser understood, how many movies satisfy its constraints
    (None when it had none), why each movie matched, and notes for the person ("Only 3 movies here...").

    Example:
        >>> SearchResult([], ParsedQuery("x"), None).titles()
        []
    """

    hits: list[Hit]
    query: ParsedQuery
    total: int | None
    matches: dict[int, MatchFacts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def titles(self) -> list[str]:
        return [str((h.payload or {}).get("display_title", h.id)) for h in self.hits]


def request_queries(query: ParsedQuery, store: VectorStore, text_encoder: TextEncoder,
                    image_encoder: ImageEncoder | None, sparse: SparseEncoder | None,
                    boost_topics: bool = True) -> list[SignalQuery]:
    """The fused query's sources for a parsed request: the semantic rest through every text signal and BM25, the
    referenced movies' own vectors (as positive examples), and BM25 over the topics restricted to the movies that
    name them (so the boosted movies are among the candidates)."""
    queries: list[SignalQuery] = []
    semantic = query.semantic
    if semantic:
        queries += text_queries(semantic, store, text_encoder, image_encoder, "fused")
        if sparse is not None and has_sparse(store):
            vector = sparse.embed_query(semantic)
            if vector:
                queries.append(SignalQuery(SPARSE_SIGNAL, vector=vector, weight=SPARSE_WEIGHT))
    if query.references:
        signals = [s for s in ("overview", "reviews", "cf") if s in stored_signals(store)]
        own = store.vectors(query.references, signals)
        for signal in signals:
            examples = [vecs[signal] for vecs in own.values() if signal in vecs and np.any(vecs[signal])]
            if examples:
                queries.append(SignalQuery(signal, positives=examples, weight=TEXT_WEIGHTS.get(signal, 1.0)))
    topics = query.topic_filter() if boost_topics else None
    if topics is not None and sparse is not None and has_sparse(store):
        vector = sparse.embed_query(" ".join(e.label for e in query.entities if e.kind == "keyword"))
        if vector:
            queries.append(SignalQuery(SPARSE_SIGNAL, vector=vector, weight=SPARSE_WEIGHT, filters=topics))
    return queries


def search_request(text: str, store: VectorStore, text_encoder: TextEncoder, vocabulary: Vocabulary, *,
                   sparse: SparseEncoder | None = None, image_encoder: ImageEncoder | None = None,
                   filters: Filters | None = None, limit: int = 10, query: ParsedQuery | None = None,
                   fusion: FusionMethod = FUSION, boost_topics: bool = True, tone_pool: bool = True
                   ) -> SearchResult:
    """Read a request with the query parser, then search: its constraints filter inside Qdrant, its topics boost,
    its semantic rest and referenced movies rank the candidates (dense and BM25 vectors fused). Constraints that
    few movies satisfy give only those movies and a note saying so, never unrelated films as padding.

    Example:
        >>> # search_request("Christopher Nolan films", store, encoder, Vocabulary.from_payloads(store.payloads()))
    """
    text, limit = check_query(text), check_limit(limit)
    parsed = query if query is not None else parse_query(text, vocabulary)
    if parsed.newer or parsed.shorter:  # "like Heat but newer": than Heat; "something newer": recent
        about = store.payloads(parsed.references).values() if parsed.references else []
        parsed = parsed.anchored(about, vocabulary.newest_year)
    if not parsed.understood() and not set(TEXT_SIGNALS) & set(stored_signals(store)):
        raise StoreError(f"this index has no text vectors to search (it holds {', '.join(stored_signals(store))}): "
                         "it was built from data without overviews or reviews; rebuild it with a TMDB file or "
                         "reviews in the data folder")
    flt = parsed.filters().merged(filters)
    flt.exclude = [*flt.exclude, *parsed.negated_topics()]
    constrained = parsed.constrained() or bool(parsed.negated_topics())
    total = store.count(flt) if constrained else None
    unknown_words = mentions_nothing(parsed, text, store, sparse)
    if total == 0 or unknown_words:  # "asdkjh qwe": the nearest vectors to nonsense would be noise
        hits: list[Hit] = []
    else:
        queries = request_queries(parsed, store, text_encoder, image_encoder, sparse, boost_topics)
        like = [q for q in queries if q.positives]
        ranked = flt
        if like and len(like) < len(queries):  # "like Heat but darker": darker among the movies like Heat
            pool = store.fuse(like, limit=max(REFERENCE_POOL * limit, 10), filters=flt, with_payload=False)
            ranked = replace(flt, only_ids=[h.id for h in pool])
        elif tone_pool and parsed.tone_only():  # off only to measure it
            include, exclude = TONE_GENRES[parsed.tone]
            fitting = flt.merged(Filters(genres=list(include), exclude_genres=list(exclude)))
            pool = store.top(POPULAR_KEY, limit=TONE_POOL, filters=fitting)
            ranked = replace(flt, only_ids=[h.id for h in pool]) if pool else flt
        elif tone_pool and parsed.softened and parsed.tone in TONE_GENRES:  # "not so scary horror": horror
            fitting = flt.merged(Filters(match=[FieldMatch(("genres",), TONE_GENRES[parsed.tone][0])]))
            pool = store.top(POPULAR_KEY, limit=SOFTENED_POOL, filters=fitting)  # that are also comedies
            ranked = replace(flt, only_ids=[h.id for h in pool]) if len(pool) >= limit else flt
        boosts = parsed.boosts() if boost_topics else []  # off only to measure what the boosts add
        depth = limit * BEST_POOL * (OBSCURE_POOL if parsed.obscure > 0 else 1) if parsed.best or parsed.obscure \
            else limit
        hits = (store.fuse(queries, limit=depth, filters=ranked, boosts=boosts, fusion=fusion)
                if queries else [])
        if constrained and len(hits) < min(depth, total or 0):  # movies that pass but that no vector query reached
            seen = [h.id for h in hits]
            more = store.top(POPULAR_KEY, limit=depth - len(hits), filters=replace(flt, exclude_ids=[
                *flt.exclude_ids, *seen]))
            hits += [Hit(h.id, 0.0, h.payload) for h in more]
        if not queries and not constrained:
            hits = store.top(POPULAR_KEY, limit=depth, filters=flt)
        if parsed.best or parsed.obscure:  # a gem's place in a list ranked by popularity says nothing
            hits = best_first(hits, rating=parsed.best, obscure=parsed.obscure,
                              searched=bool(queries) or parsed.obscure <= 0)[:limit]
    if total is not None and total <= limit and _franchise_only(parsed):  # "Harry Potter films": in release order
        hits = sorted(hits, key=lambda h: (h.payload or {}).get("year") or 9999)
    terms = _terms(parsed, sparse)
    matches = {h.id: match_facts(parsed, h.payload or {}, terms, sparse) for h in hits}
    notes = []
    if constrained and total is not None and total < limit:
        notes.append(thin_note(parsed, total))
    if parsed.suggestions:
        notes.append(f"Did you mean {describe_list(parsed.suggestions[:3], 'or')}?")
    if parsed.avoided:
        notes.append(AVOIDED_NOTE.format(parsed.avoided))
    if unknown_words and not parsed.unknown_names:
        notes.append(UNKNOWN_WORDS_NOTE.format(text))
    for name in parsed.unknown_names:
        notes.append(f"Nobody and nothing here is called “{name}” (credits are missing for some movies)"
                     + (", so these only match the words." if hits else "."))
    return SearchResult(hits, parsed, total, matches, notes)


def _franchise_only(parsed: ParsedQuery) -> bool:
    """Whether a request names a franchise and asks nothing else ("the Toy Story movies")."""
    return ([e.kind for e in parsed.entities if not e.negated] == ["collection"] and not parsed.semantic
            and not (parsed.references or parsed.best or parsed.obscure))


def renown(payloads: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """How widely seen each movie is for its time, 0 to 1: the share of the movies of its year among ``payloads``
    (of its decade where its year has fewer than ``RENOWN_YEAR_MOVIES``) that fewer people rated, ties counting
    half (a film from last year has had less time to be rated than a classic).

    Example:
        >>> renown([{"rating_count": 300, "year": 1999}, {"rating_count": 3, "year": 1995},
        ...         {"rating_count": 20, "year": 2018}]).tolist()
        [0.75, 0.25, 0.5]
    """
    from scipy.stats import rankdata

    counts = np.array([float(p.get("rating_count") or 0) for p in payloads])
    years = np.array([int(p.get("year") or 0) for p in payloads])
    _, by_year, per_year = np.unique(years, return_inverse=True, return_counts=True)
    key = np.where(per_year[by_year] >= RENOWN_YEAR_MOVIES, years, years // 10 - 10_000)  # a decade: its own key
    out = np.empty(len(counts))
    for k in np.unique(key):
        members = np.flatnonzero(key == k)
        out[members] = (rankdata(counts[members]) - 0.5) / len(members)
    return out


def shrunk_ratings(payloads: Sequence[Mapping[str, Any]], prior_ratings: float = BEST_PRIOR_RATINGS) -> np.ndarray:
    """Each movie's MovieLens mean rating shrunk towards the movies' overall mean by ``prior_ratings`` ratings
    (a Bayesian average, as IMDb's top list): few ratings say little, and no ratings give the overall mean.

    Example:
        >>> shrunk_ratings([{"rating_mean": 4.0, "rating_count": 20}, {"rating_mean": 5.0, "rating_count": 0}],
        ...                prior_ratings=20).tolist()
        [4.0, 4.0]
    """
    means = np.array([float(p.get("rating_mean") or 0.0) for p in payloads])
    counts = np.array([float(p.get("rating_count") or 0.0) for p in payloads])
    overall = float((means * counts).sum() / counts.sum()) if counts.sum() else 0.0
    return (means * counts + overall * prior_ratings) / (counts + prior_ratings)


def best_first(hits: list[Hit], prior_ratings: float = BEST_PRIOR_RATINGS, *, rating: bool = True,
               obscure: int = 0, searched: bool = True) -> list[Hit]:
    """Hits reordered by their rank in the search fused with their rank by rating (reciprocal rank fusion): a
    well-rated match rises, a poor one sinks, and the search still counts. A movie's rating is its mean shrunk
    towards the hits' overall mean by ``prior_ratings`` ratings, so three 5-star ratings do not beat three hundred
    4.3s; a movie with no ratings gets the overall mean. ``obscure`` 1 fuses in the rank by how few people rated
    each for its time (:func:`renown`; "hidden gems": a movie nobody rated is left last, as nothing says it is any
    good), -1 by how many. ``searched=False`` leaves out the hits' own order (when it is only popularity).

    Example:
        >>> hits = [Hit(1, 0.9, {"rating_mean": 2.5, "rating_count": 300}), Hit(2, 0.8, {"rating_mean": 4.4,
        ...         "rating_count": 250}), Hit(3, 0.7, {"rating_mean": 5.0, "rating_count": 2})]
        >>> [h.id for h in best_first(hits)], [h.id for h in best_first(hits, obscure=1, searched=False)]
        ([2, 1, 3], [2, 3, 1])
    """
    if not hits:
        return []
    payloads = [h.payload or {} for h in hits]
    fused = rrf_term(np.arange(len(hits))) if searched else np.zeros(len(hits))
    keys = [-shrunk_ratings(payloads, prior_ratings)] if rating else []
    if obscure:
        rated = np.array([bool(p.get("rating_count")) for p in payloads])
        keys.append(np.where(rated, obscure * renown(payloads), np.inf))
    for key in keys:
        rank = np.empty(len(hits))
        rank[np.argsort(key, kind="stable")] = np.arange(len(hits))
        fused = fused + rrf_term(rank)
    return [hits[i] for i in np.argsort(-fused, kind="stable")]


def mentions_nothing(parsed: ParsedQuery, text: str, store: VectorStore, sparse: SparseEncoder | None) -> bool:
    """Whether a request (``text``, read as ``parsed``) names nothing the parser knows and no movie's document
    (title, overview, keywords, people...) holds any of its words, so that searching or steering by it would only
    give noise; False where the index has no BM25 vectors to tell.

    Example:
        >>> # mentions_nothing(parse_query("asdkjh qwe", vocab), "asdkjh qwe", store, sparse)  ->  True
    """
    if parsed.understood() or sparse is None or not has_sparse(store):
        return False
    vector = sparse.embed_query(parsed.semantic or text)
    return bool(vector) and not store.search(SignalQuery(SPARSE_SIGNAL, vector=vector), limit=1)


def _terms(parsed: ParsedQuery, sparse: SparseEncoder | None) -> frozenset[int]:
    if sparse is None:
        return frozenset()
    # a tone's description is ours, not the request's: "for a date night" does not "mention story"
    words = parsed.semantic.removesuffix(TONES[parsed.tone]).strip(" ,") if parsed.tone else parsed.semantic
    return sparse.terms(" ".join([words, *(e.label for e in parsed.entities if e.kind == "keyword")]))


def similar_movies(movie_id: int, store: VectorStore, *, by: By = "fused", filters: Filters | None = None,
                   limit: int = 10) -> list[Hit]:
    """Movies like ``movie_id`` by one signal or by all the signals it has (reciprocal rank fusion).

    Example:
        >>> # similar_movies(1, store, by="overview")  # Toy Story -> animated family films
    """
    limit = check_limit(limit)
    available = stored_signals(store)
    check_by(by)
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
