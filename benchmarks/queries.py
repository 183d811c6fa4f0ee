"""What people ask for, measured: a query set generated from the catalog's own metadata, each query with an exact
relevance set, answered by four systems side by side (printed as a table; not a timed test).

* ``dense``: today's search (the overview and review vectors fused, no BM25, no parser);
* ``bm25s``: BM25 alone, the ``bm25s`` library over the same per-movie documents (English stop words, Snowball
  stems);
* ``hybrid``: the dense vectors and the sparse BM25 vector fused in one Qdrant query (no parser);
* ``parser+hybrid``: the query parser's filters and boosts, then the hybrid query (``index.search.search_request``).

Families: director, actor, company, franchise, keyword, decade x genre, language, runtime, combinations, each
phrased several ways ("films by X", "X movies", "directed by X"), and descriptions judged by MovieLens user tags.
"X movies" names no role, so its relevance set is every movie X is credited on (directed, cast, wrote); a studio's
short name ("Paramount") stands for every company whose name holds it.
Constraint precision@10 is the share of the top 10 that satisfy the query's constraints (the relevance set is
exactly the movies that do); nDCG@10 uses the same sets as binary gains.

Tags are part of each movie's BM25 document, so the description queries are judged on tags the index never saw:
a fixed half of the tag assignments (tags.csv rows, by a hash of user, movie and tag) is held out. The benchmark
copies the index's dense vectors into a temporary Edge store whose payloads and BM25 documents carry only the
indexed half; every system answers from that store. A description's relevance set is the movies with a held-out
assignment of the tag; a movie can carry the same tag from another user in the indexed half, so the table also
reports the strict reading ("unseen"): relevant movies are those whose tag is only in the held-out half, and movies
with the tag in the indexed half are left out of the ranking before scoring.

Latency (parse + search) is measured on the index itself, the embedded store a person would use.

    python benchmarks/queries.py --store runs/index --data ../shared/data [--out runs/queries.json]
"""

from __future__ import annotations

import os

# no OMP_WAIT_POLICY here: latency is measured as the app and the CLI run (their text model's threads spin)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.query import COMPANY_SUFFIXES, TONE_GENRES, Vocabulary, normalize, parse_query  # noqa: E402
from index.search import renown, search_request, search_text, shrunk_ratings, sparse_encoder_for  # noqa: E402
from index.sparse import SPARSE_SIGNAL, Bm25Encoder, average_length, movie_document  # noqa: E402
from index.store import StorePoint, StoreSchema, open_store  # noqa: E402
from recommender.evaluation.metrics import ndcg_at_k, paired_difference  # noqa: E402

SYSTEMS = ("dense", "bm25s", "hybrid", "parser+hybrid")
#: ablations of the full system, in the same run: without the BM25 vector, fused by DBSF instead of RRF, and
#: without the topic boosts ("heist movies" then ranks by the words alone)
ABLATIONS = ("parser+dense", "parser+hybrid dbsf", "parser+hybrid no boosts", "parser+hybrid no topic fixes",
             "parser+hybrid no rule-outs")
#: what people rule out of a description ("..., but not gory"); those the catalog has as a topic are left out
RULE_OUT_WORDS = ("gory", "slow", "preachy", "sappy", "pretentious", "melodramatic", "loud", "gritty", "bleak",
                  "corny")
GENRE_PHRASE = {"Comedy": "comedies", "Drama": "dramas", "Horror": "horror films", "Thriller": "thrillers",
                "Action": "action movies", "Romance": "romance films", "Sci-Fi": "sci-fi films",
                "Crime": "crime films", "Animation": "animated films", "Documentary": "documentaries",
                "Western": "westerns", "War": "war films", "Adventure": "adventure films", "Fantasy": "fantasy films",
                "Mystery": "mysteries", "Musical": "musicals", "Children": "children's films"}


@dataclass
class Query:
    family: str
    text: str
    relevant: set[int]
    unjudged: set[int] = field(default_factory=set)  # left out of the ranking before scoring (strict tags)


def is_constraint(q: Query) -> bool:
    """A query the metadata judges exactly (not a description, not a misspelt copy, which has its own row)."""
    return not q.family.startswith("description") and q.family != "keyword (misspelt)"


def ruled_out(queries: list[Query], vocab: Vocabulary) -> list[Query]:
    """The tag descriptions again, each ruling out a word no movie has as a topic ("dark comedy, but not gory"):
    the same relevance sets, since the word names nothing a movie is judged by.

    Example:
        >>> v = Vocabulary.from_payloads({1: {"title": "Heat"}})
        >>> [q.text for q in ruled_out([Query("description (tags)", "dark comedy", {1})], v)]
        ['dark comedy, but not gory']
    """
    words = [w for w in RULE_OUT_WORDS if not parse_query(f"a comedy, but not {w}", vocab).entities[1:]]
    tags = [q for q in queries if q.family == "description (tags)"]
    return [Query("description, ruled out", f"{q.text}, but not {words[i % len(words)]}", q.relevant)
            for i, q in enumerate(tags)] if words else []


def misspelt(queries: list[Query]) -> list[Query]:
    """The keyword queries again, their topic word typed with its second and third letters swapped ("films about
    hiest"): the same relevance sets.

    Example:
        >>> [q.text for q in misspelt([Query("keyword", "films about heist", {1})])]
        ['films about hiest']
    """
    out = []
    for q in queries:
        if q.family != "keyword":
            continue
        words = q.text.split()
        topic = max((w for w in words if w.isalpha() and len(w) >= 5 and w not in TEMPLATE_WORDS), key=len,
                    default=None)
        if topic is None or topic[1] == topic[2]:
            continue
        typo = topic[0] + topic[2] + topic[1] + topic[3:]
        out.append(Query("keyword (misspelt)", " ".join(typo if w == topic else w for w in words), q.relevant))
    return out


def held_out(user: int, movie: int, tag: str) -> bool:
    """Whether a tag assignment is in the judged half: a fixed hash, the same on every run and machine.

    Example:
        >>> held_out(1, 2, "funny") == held_out(1, 2, "Funny ")
        True
    """
    key = f"{user}:{movie}:{tag.strip().casefold()}".encode()
    return hashlib.sha256(key).digest()[0] % 2 == 1


def load_tags(data: Path) -> pd.DataFrame:
    frame = pd.read_csv(data / "ml-latest-small" / "tags.csv")
    frame = frame.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    frame["held_out"] = [held_out(u, m, t) for u, m, t in zip(frame.user_id, frame.movie_id, frame.tag.astype(str),
                                                               strict=True)]
    return frame


def indexed_payloads(payloads: Mapping[int, dict[str, Any]], tags: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """The payloads with only the indexed half of the tag assignments (most used first, as the build orders)."""
    from index.build import PAYLOAD_LIMITS
    from index.catalog import distinct_tags

    kept = distinct_tags(tags[~tags.held_out][["user_id", "movie_id", "tag", "timestamp"]])
    out = {}
    for mid, p in payloads.items():
        own = kept.get(mid, [])[:PAYLOAD_LIMITS["tags"]]
        out[mid] = {**p, "tags": own, "tag_keys": sorted({t.casefold() for t in own})}
    return out


def evaluation_store(index: Any, payloads: dict[int, dict[str, Any]], where: str) -> tuple[Any, Bm25Encoder]:
    """A copy of the index's dense vectors with these payloads and BM25 documents built from them."""
    schema = index.schema()
    docs = {mid: movie_document(p) for mid, p in payloads.items()}
    encoder = Bm25Encoder(average_length(docs.values()))
    info = {**schema.info, "sparse": encoder.config()}
    store = open_store(where)
    store.create(StoreSchema(schema.vectors, info))
    dense = [n for n, spec in schema.vectors.items() if spec.kind == "dense"]
    ids = sorted(payloads)
    for start in range(0, len(ids), 512):
        batch = ids[start:start + 512]
        vecs = index.vectors(batch, dense)
        sparse = encoder.embed_documents([docs[m] for m in batch])
        store.upsert([StorePoint(m, {**{k: v for k, v in vecs.get(m, {}).items() if np.any(v)},
                                     **({SPARSE_SIGNAL: s} if s else {})}, payloads[m])
                      for m, s in zip(batch, sparse, strict=True)])
    if hasattr(store, "optimize"):
        store.optimize()
    return store, encoder


def _core_company(name: str) -> str:
    words = normalize(name).split()
    core = [w for w in words if w not in COMPANY_SUFFIXES] or words
    return " ".join(core)


def _display_core(name: str) -> str:
    words = name.split()
    core = [w for w in words if normalize(w) not in COMPANY_SUFFIXES] or words
    return " ".join(core)


def generate(payloads: Mapping[int, dict[str, Any]], tags: pd.DataFrame) -> list[Query]:
    """The query set: every family from the catalog's metadata, the most-credited entities first (deterministic)."""
    import langcodes

    by: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for mid, p in payloads.items():
        for d in p.get("directors") or []:
            by["director"][d].add(mid)
        for a in (p.get("cast") or [])[:5]:
            by["actor"][a].add(mid)
        for c in p.get("companies") or []:
            by["company"][_core_company(c)].add(mid)
        if p.get("collection"):
            by["franchise"][p["collection"]].add(mid)
        for k in p.get("keywords") or []:
            by["keyword"][k.casefold()].add(mid)
        if p.get("original_language"):
            by["language"][p["original_language"]].add(mid)
    display_company: dict[str, str] = {}
    for p in payloads.values():
        for c in p.get("companies") or []:
            display_company.setdefault(_core_company(c), _display_core(c))

    def cast_of(name: str) -> set[int]:  # actors are judged on the whole stored cast, not the first five
        return {m for m, p in payloads.items() if name in (p.get("cast") or [])}

    def credited(name: str) -> set[int]:  # "X movies" names no role: any credit (directed, in the cast, wrote)
        return {m for m, p in payloads.items()
                if any(name in (p.get(k) or []) for k in ("directors", "cast", "writers"))}

    def company_phrase(core: str) -> set[int]:  # "Paramount" is every company named Paramount something
        phrase = f" {core} "
        return {m for m, p in payloads.items() if any(phrase in f" {normalize(c)} " for c in p.get("companies") or [])}

    def top(family: str, n: int, least: int, skip: Callable[[str], bool] = lambda _: False) -> list[str]:
        ranked = sorted(by[family].items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return [k for k, v in ranked if len(v) >= least and not skip(k)][:n]

    genre_words = {normalize(w) for w in GENRE_PHRASE} | {"comedy", "romance", "horror", "drama", "action"}
    out: list[Query] = []
    for d in top("director", 25, 3):
        rel = by["director"][d]
        out += [Query("director", f"films by {d}", rel), Query("director", f"{d} movies", credited(d)),
                Query("director", f"directed by {d}", rel)]
    for a in top("actor", 15, 5):
        rel = cast_of(a)
        out += [Query("actor", f"movies starring {a}", rel), Query("actor", f"{a} films", credited(a))]
    for c in top("company", 12, 5, lambda c: len(c) < 3):
        rel = company_phrase(c)
        out += [Query("company", f"{display_company[c]} movies", rel),
                Query("company", f"films from {display_company[c]}", rel)]
    for f in top("franchise", 12, 3):
        name = f.replace(" Collection", "")
        rel = by["franchise"][f]
        out += [Query("franchise", f"{name} films", rel), Query("franchise", f"the {name} franchise", rel)]
    for k in top("keyword", 15, 10, lambda k: normalize(k) in genre_words or len(k) < 4):
        rel = by["keyword"][k]
        out += [Query("keyword", f"{k} movies", rel), Query("keyword", f"films about {k}", rel)]
    combos = [("Comedy", 1990), ("Drama", 1970), ("Horror", 1980), ("Sci-Fi", 1980), ("Thriller", 2000),
              ("Action", 1990), ("Romance", 1990), ("Crime", 1970), ("Animation", 2000), ("Western", 1960),
              ("War", 1950), ("Documentary", 2000)]
    for genre, decade in combos:
        rel = {m for m, p in payloads.items()
               if genre in (p.get("genres") or []) and decade <= (p.get("year") or 0) <= decade + 9}
        out += [Query("decade x genre", f"{str(decade)[2:]}s {GENRE_PHRASE[genre]}", rel),
                Query("decade x genre", f"{GENRE_PHRASE[genre]} from the {decade}s", rel)]
    for code in top("language", 8, 20, lambda c: c == "en"):
        name = langcodes.Language.get(code).display_name()
        rel = by["language"][code]
        out += [Query("language", f"{name} films", rel), Query("language", f"movies in {name}", rel)]
    for genre, lo, hi, text in [("Comedy", None, 89, "comedies under 90 minutes"),
                                ("Drama", 151, None, "dramas over 150 minutes"),
                                ("Animation", None, 79, "animated films under 80 minutes"),
                                ("Action", 141, None, "action movies longer than 140 minutes"),
                                ("Horror", None, 89, "horror films under 90 minutes"),
                                ("Documentary", None, 89, "documentaries shorter than 90 minutes")]:
        rel = {m for m, p in payloads.items() if genre in (p.get("genres") or []) and bool(p.get("runtime"))
               and (lo is None or p["runtime"] >= lo) and (hi is None or p["runtime"] <= hi)}
        out.append(Query("runtime", text, rel))
    for actor, genre, decade in [("Tom Hanks", "Comedy", 1990), ("Bruce Willis", "Action", 1990),
                                 ("Robert De Niro", "Crime", 1990), ("Harrison Ford", "Adventure", 1980),
                                 ("Jim Carrey", "Comedy", 1990), ("Arnold Schwarzenegger", "Action", 1980),
                                 ("Meryl Streep", "Drama", 2000), ("Tom Cruise", "Action", 2000)]:
        rel = {m for m, p in payloads.items() if actor in (p.get("cast") or []) and genre in (p.get("genres") or [])
               and decade <= (p.get("year") or 0) <= decade + 9}
        out.append(Query("combination", f"{actor} {GENRE_PHRASE[genre]} from the {str(decade)[2:]}s", rel))
    for director, decade in [("Steven Spielberg", 1980), ("Woody Allen", 1980), ("Ridley Scott", 2000),
                             ("Martin Scorsese", 1990), ("Clint Eastwood", 2000), ("Alfred Hitchcock", 1950)]:
        rel = {m for m, p in payloads.items()
               if director in (p.get("directors") or []) and decade <= (p.get("year") or 0) <= decade + 9}
        out.append(Query("combination", f"films directed by {director} from the {decade}s", rel))
    out += tag_queries(tags, set(payloads))
    return [q for q in out if q.relevant]


def tag_queries(tags: pd.DataFrame, movies: set[int], least: int = 6) -> list[Query]:
    """Descriptions judged by held-out tags: each tag that at least two people used and that has at least ``least``
    movies among its held-out assignments, as the query; the strict reading leaves out movies that have the tag in
    the indexed half."""
    tags = tags[tags.movie_id.isin(movies)].assign(key=tags.tag.astype(str).str.strip().str.casefold())
    people = tags.groupby("key")["user_id"].nunique()
    tags = tags[tags.key.map(people) >= 2]  # a tag one person uses ("in netflix queue") is a bookmark, not a word
    judged: dict[str, set[int]] = defaultdict(set)
    seen: dict[str, set[int]] = defaultdict(set)
    for key, mid, out in zip(tags.key, tags.movie_id, tags.held_out, strict=True):
        (judged if out else seen)[key].add(int(mid))
    out_q = []
    for key in sorted(judged, key=lambda k: (-len(judged[k]), k)):
        if len(judged[key]) < least or len(key) < 3:
            continue
        out_q.append(Query("description (tags)", key, judged[key]))
        strict = judged[key] - seen[key]
        if len(strict) >= 3:
            out_q.append(Query("description (unseen tags)", key, strict, unjudged=seen[key]))
    return out_q


def bm25s_index(payloads: Mapping[int, dict[str, Any]]) -> Callable[[str, int], list[int]]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = sorted(payloads)
    corpus = [movie_document(payloads[m]) for m in ids]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)

    def search(text: str, k: int) -> list[int]:
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.vocab:
            return []
        docs, scores = retriever.retrieve(tokens, k=k, show_progress=False)
        return [ids[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    return search


def run_systems(queries: list[Query], store: Any, encoder: Any, sparse: Any, vocab: Vocabulary,
                bm25: Callable[[str, int], list[int]], depth: int) -> dict[str, list[list[int]]]:
    ranked: dict[str, list[list[int]]] = {s: [] for s in (*SYSTEMS, *ABLATIONS)}
    for q in queries:
        ranked["dense"].append([h.id for h in search_text(q.text, store, encoder, limit=depth)])
        ranked["bm25s"].append(bm25(q.text, depth))
        ranked["hybrid"].append([h.id for h in search_text(q.text, store, encoder, limit=depth, sparse=sparse)])
        parsed = parse_query(q.text, vocab)
        ranked["parser+hybrid"].append([h.id for h in search_request(q.text, store, encoder, vocab, sparse=sparse,
                                                                      limit=depth, query=parsed).hits])
        ranked["parser+dense"].append([h.id for h in search_request(q.text, store, encoder, vocab, limit=depth,
                                                                     query=parsed).hits])
        ranked["parser+hybrid dbsf"].append([h.id for h in search_request(
            q.text, store, encoder, vocab, sparse=sparse, limit=depth, query=parsed, fusion="dbsf").hits])
        ranked["parser+hybrid no boosts"].append([h.id for h in search_request(
            q.text, store, encoder, vocab, sparse=sparse, limit=depth, query=parsed, boost_topics=False).hits])
        as_typed = parse_query(q.text, vocab, fix_topics=False)
        ranked["parser+hybrid no topic fixes"].append([h.id for h in search_request(
            q.text, store, encoder, vocab, sparse=sparse, limit=depth, query=as_typed).hits])
        searched = parse_query(q.text, vocab, rule_out=False)
        ranked["parser+hybrid no rule-outs"].append([h.id for h in search_request(
            q.text, store, encoder, vocab, sparse=sparse, limit=depth, query=searched).hits])
    return ranked


def score(queries: list[Query], ranked: list[list[int]], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Per query: constraint precision@k (satisfying movies among the top k, over k) and nDCG@k."""
    lists = [[m for m in r if m not in q.unjudged][:k] for q, r in zip(queries, ranked, strict=True)]
    precision = np.array([sum(m in q.relevant for m in r) / k for q, r in zip(queries, lists, strict=True)])
    ndcg = ndcg_at_k(lists, [q.relevant for q in queries], k=k).per_user
    return precision, np.asarray(ndcg, dtype=np.float64)


def latency(queries: list[Query], index_path: str, encoder: Any) -> dict[str, float]:
    """Parse + search on the index itself, per query (after one warm-up), and parse alone."""
    store = open_store(index_path)
    try:
        vocab = Vocabulary.from_payloads(store.payloads())
        sparse = sparse_encoder_for(store)
        search_request("warm up", store, encoder, vocab, sparse=sparse)
        total, parse = [], []
        for q in queries:
            t0 = time.perf_counter()
            parsed = parse_query(q.text, vocab)
            t1 = time.perf_counter()
            search_request(q.text, store, encoder, vocab, sparse=sparse, query=parsed)
            t2 = time.perf_counter()
            parse.append(t1 - t0)
            total.append(t2 - t0)
        encode = encode_threads(encoder, [q.text for q in queries[:40]])
        message = long_message(2000)
        long_times = []
        for _ in range(20):
            t0 = time.perf_counter()
            parse_query(message, vocab)
            long_times.append(time.perf_counter() - t0)
    finally:
        store.close()
    ms = 1000.0
    return {"p50_ms": float(np.percentile(total, 50) * ms), "p95_ms": float(np.percentile(total, 95) * ms),
            "parse_p95_ms": float(np.percentile(parse, 95) * ms), "queries": len(total),
            "parse_2000_chars_median_ms": float(np.median(long_times) * ms),
            "parse_2000_chars_max_ms": float(np.max(long_times) * ms), **encode}


def encode_threads(encoder: Any, texts: list[str]) -> dict[str, float]:
    """A request's text encoded with the default thread pool and on one thread (what ``encode_query`` does),
    alternating, so both see the same load: p50 and p95 in ms."""
    from index.search import encode_query

    default, single = [], []
    for text in texts:
        t0 = time.perf_counter()
        encoder.encode([text])
        t1 = time.perf_counter()
        encode_query(encoder, text)
        t2 = time.perf_counter()
        default.append(t1 - t0)
        single.append(t2 - t1)
    return {"encode_default_p50_ms": float(np.percentile(default, 50) * 1000),
            "encode_default_p95_ms": float(np.percentile(default, 95) * 1000),
            "encode_one_thread_p50_ms": float(np.percentile(single, 50) * 1000),
            "encode_one_thread_p95_ms": float(np.percentile(single, 95) * 1000)}


def long_message(chars: int, seed: int = 0) -> str:
    """A rambling request of about ``chars`` characters, full of names, periods and negations."""
    parts = ["I loved Toy Story and Heat", "something like Spirited Away but darker", "no horror please",
             "not Tarantino", "90s romantic comedies", "films by Christopher Nolan", "under 2 hours",
             "French films from before 1980", "with Tom Hanks", "Pixar or Studio Ghibli", "a heist that goes wrong",
             "Bond films", "recent sci-fi", "Japanese animation", "documentaries about nature"]
    rng = random.Random(seed)
    text = ""
    while len(text) < chars:
        text += rng.choice(parts) + ", "
    return text[:chars]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--store", default="runs/index", help="a built index (embedded)")
    ap.add_argument("--data", default="../shared/data", help="the data folder (for tags.csv)")
    ap.add_argument("--out", default=None, help="write the per-family numbers as JSON here")
    ap.add_argument("--limit", type=int, default=0, help="only the first N queries (a quick look)")
    args = ap.parse_args(argv)

    from encoders.text import load_text_encoder

    index = open_store(args.store)
    schema = index.schema()
    if schema is None:  # before reading payloads and tags: an empty store would only yield zero queries
        raise SystemExit(f"no index at {args.store}: build one first (cinefuse build --data DIR --store {args.store})")
    full = index.payloads()
    tags = load_tags(Path(args.data))
    payloads = indexed_payloads(full, tags)
    queries = generate(payloads, tags)
    queries += misspelt(queries)
    queries += ruled_out(queries, Vocabulary.from_payloads(payloads))
    if args.limit:
        queries = random.Random(0).sample(queries, min(args.limit, len(queries)))
    counts = Counter(q.family for q in queries)
    print(f"{len(queries)} queries: " + ", ".join(f"{f} {n}" for f, n in counts.items()), flush=True)
    encoder = load_text_encoder((schema.info.get("settings") or {}).get("text_model", "all-MiniLM-L6-v2"))
    with tempfile.TemporaryDirectory(prefix="cinefuse-queries-") as tmp:
        t0 = time.perf_counter()
        store, sparse = evaluation_store(index, payloads, str(Path(tmp) / "eval"))
        index.close()
        print(f"evaluation store (held-out tags removed) in {time.perf_counter() - t0:.0f} s", flush=True)
        vocab = Vocabulary.from_payloads(payloads)
        bm25 = bm25s_index(payloads)
        depth = 10 + max((len(q.unjudged) for q in queries), default=0)
        ranked = run_systems(queries, store, encoder, sparse, vocab, bm25, min(depth, 200))
        report_best = best_ablation([q for q in queries if is_constraint(q)], store,
                                    encoder, sparse, vocab, full)
        report_tone = tone_ablation(store, encoder, sparse, vocab, full)
        store.close()
    results = {s: score(queries, ranked[s]) for s in (*SYSTEMS, *ABLATIONS)}
    report = table(queries, results)
    report["ablations"] = ablations(queries, results)
    report["best"] = report_best
    report["tone"] = report_tone
    lat = latency([q for q in queries if not q.family.startswith("description (unseen")], args.store, encoder)
    print(f"\nlatency on {args.store} (embedded Qdrant Edge, {lat['queries']} queries, parse + search incl. text "
          f"encoding): p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms (target <= 50); parse alone p95 "
          f"{lat['parse_p95_ms']:.2f} ms; a 2,000-character message parses in {lat['parse_2000_chars_median_ms']:.1f} "
          f"ms (median of 20, max {lat['parse_2000_chars_max_ms']:.1f}; target < 50)")
    print(f"text encoding of a request (ablation): default threads p50 {lat['encode_default_p50_ms']:.1f} ms, p95 "
          f"{lat['encode_default_p95_ms']:.1f} ms; one thread (encode_query) p50 {lat['encode_one_thread_p50_ms']:.1f} "
          f"ms, p95 {lat['encode_one_thread_p95_ms']:.1f} ms")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**report, "latency": lat}, indent=2))
    return 0


TEMPLATE_WORDS = {"films", "movies", "by", "directed", "starring", "from", "the", "franchise", "about", "in"}


def entity_key(text: str) -> str:
    """What a query asks about, without its phrasing: paraphrases of one request share it.

    Example:
        >>> entity_key("films by Steven Spielberg") == entity_key("directed by Steven Spielberg")
        True
        >>> entity_key("90s comedies") == entity_key("comedies from the 1990s")
        True
    """
    words = [w for w in normalize(text).split() if w not in TEMPLATE_WORDS]
    return " ".join(sorted(w[2:] if len(w) == 5 and w.endswith("0s") and w[:2] in ("19", "20") else w
                           for w in words))


def best_ablation(queries: list[Query], store: Any, encoder: Any, sparse: Any, vocab: Vocabulary,
                  payloads: Mapping[int, dict[str, Any]], k: int = 10) -> dict[str, Any]:
    """"The best X" against "X", per constraint query: the share of the top k that satisfy X (kept?) and their
    mean rating, shrunk as :func:`index.search.best_first` shrinks it (raised?), with paired 95% intervals."""
    shrunk = dict(zip(payloads, shrunk_ratings(list(payloads.values())), strict=True))
    rows: dict[str, list[tuple[float, float]]] = {"X": [], "the best X": []}
    for q in queries:
        for name, text in (("X", q.text), ("the best X", f"the best {q.text}")):
            top = [h.id for h in search_request(text, store, encoder, vocab, sparse=sparse, limit=k).hits][:k]
            rows[name].append((sum(m in q.relevant for m in top) / k,
                               float(np.mean([shrunk[m] for m in top])) if top else np.nan))
    plain, best = np.array(rows["X"]), np.array(rows["the best X"])
    out: dict[str, Any] = {"queries": len(queries)}
    print(f"\n\"the best X\" against \"X\" ({len(queries)} constraint queries, top {k})")
    for j, what in enumerate(("constraint precision", "mean shrunk rating")):
        ok = ~np.isnan(plain[:, j]) & ~np.isnan(best[:, j])
        d, lo, hi = paired_difference(best[ok, j], plain[ok, j])
        print(f"  {what:<22} X {np.mean(plain[ok, j]):.3f}  the best X {np.mean(best[ok, j]):.3f}  "
              f"difference {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        out[what] = {"X": float(np.mean(plain[ok, j])), "the best X": float(np.mean(best[ok, j])),
                     "difference": [d, lo, hi]}
    return out


#: requests that ask only for a tone, five ways per tone, and the words of MovieLens tags and TMDB keywords that
#: judge a film's tone (a judge the tone pool does not read: it reads genres and rating counts)
TONE_REQUESTS = {
    "light": ["something light-hearted", "a feel-good movie", "I'm sad, cheer me up", "nothing too heavy",
              "an uplifting film"],
    "dark": ["something darker", "a darker film", "something grittier", "something heavier", "something heavy"],
    "sad": ["a tearjerker", "a sad movie", "something that makes me cry", "a heartbreaking film", "a weepie"],
    "romantic": ["a date night movie", "something for a first date", "something romantic for date night",
                 "a movie for our date night", "something more romantic"],
    "tense": ["a slow burn", "a slow-burn film", "something slow burning", "slow burners", "a slow burner"],
    "mind": ["something mind-bending", "a mind-blowing film", "something trippy", "a puzzle box movie",
             "a movie that messes with your head"]}
TONE_JUDGE = {
    "light": {"funny", "hilarious", "feel-good", "feel good", "comedy", "humor", "heartwarming", "cute", "witty",
              "quirky", "fun", "family"},
    "dark": {"dark", "disturbing", "violence", "violent", "creepy", "bleak", "grim", "dark comedy", "brutal", "gore",
             "scary", "serial killer", "murder"},
    "sad": {"sad", "depressing", "tearjerker", "emotional", "moving", "bittersweet", "melancholy", "tragedy",
            "heartbreaking", "death"},
    "romantic": {"romance", "romantic", "love", "love story", "chick flick", "romantic comedy", "relationships"},
    "tense": {"suspense", "tense", "suspenseful", "atmospheric", "thriller", "psychological thriller", "slow"},
    "mind": {"mindfuck", "mind-bending", "surreal", "twist ending", "psychological", "dream", "reality",
             "nonlinear", "memory", "alternate reality", "time travel", "thought-provoking"}}


def tone_ablation(store: Any, encoder: Any, sparse: Any, vocab: Vocabulary, payloads: Mapping[int, dict[str, Any]],
                  k: int = 10) -> dict[str, Any]:
    """A tone asked on its own, searched among the most-rated films of its genres (the tone pool, on) or among all
    films (off), per request of :data:`TONE_REQUESTS`: the share of the top k whose tags or keywords name the tone
    (of those with any), the share in the tone's genres minus the share in its excluded ones (the pool reads
    genres, so this judge favours it), the mean shrunk rating and the median renown, with paired 95% intervals."""
    shrunk = dict(zip(payloads, shrunk_ratings(list(payloads.values())), strict=True))
    fame = dict(zip(payloads, renown(list(payloads.values())), strict=True))

    def judged(top: list[int], tone: str) -> tuple[float, float, float, float]:
        words = [{t.lower() for t in [*(payloads[m].get("tags") or []), *(payloads[m].get("keywords") or [])]}
                 for m in top]
        named = [bool(w & TONE_JUDGE[tone]) for w in words if w]
        include, exclude = TONE_GENRES[tone]
        genres = [set(payloads[m].get("genres") or []) for m in top]
        fit = np.mean([bool(g & set(include)) - bool(g & set(exclude)) for g in genres]) if top else np.nan
        return (float(np.mean(named)) if named else np.nan, float(fit),
                float(np.mean([shrunk[m] for m in top])) if top else np.nan,
                float(np.median([fame[m] for m in top])) if top else np.nan)

    rows: dict[str, list[tuple[float, float, float, float]]] = {"off": [], "on": []}
    for tone, texts in TONE_REQUESTS.items():
        for text in texts:
            for name in rows:
                top = [h.id for h in search_request(text, store, encoder, vocab, sparse=sparse, limit=k,
                                                    tone_pool=name == "on").hits][:k]
                rows[name].append(judged(top, tone))
    on, off = np.array(rows["on"]), np.array(rows["off"])
    out: dict[str, Any] = {"requests": len(on)}
    print(f"\ntone requests with the tone pool (on) and without it (off) ({len(on)} requests, top {k})")
    for j, what in enumerate(("tags name the tone", "genre fit", "mean shrunk rating", "median renown")):
        ok = ~np.isnan(on[:, j]) & ~np.isnan(off[:, j])
        d, lo, hi = paired_difference(on[ok, j], off[ok, j])
        print(f"  {what:<20} off {np.mean(off[ok, j]):.3f}  on {np.mean(on[ok, j]):.3f}  "
              f"difference {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        out[what] = {"off": float(np.mean(off[ok, j])), "on": float(np.mean(on[ok, j])), "difference": [d, lo, hi]}
    return out


def ablations(queries: list[Query], results: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """What BM25 and the fusion method add to the full system: nDCG@10 on a validation half of the queries (where
    a choice would be made) and on the other half, with paired intervals on the latter. The halves split by what
    a query asks about (a hash of it), so paraphrases of one request stay in one half."""
    half = np.array([hashlib.sha256(entity_key(q.text).encode()).digest()[0] % 2 == 0 for q in queries])
    out: dict[str, Any] = {}
    print(f"\nablations of parser+hybrid (nDCG@10; validation {int(half.sum())} and test {int((~half).sum())} "
          "queries, split by what they ask about; paired 95% intervals on test)")
    for name, mask in [("constraint", np.array([is_constraint(q) for q in queries])),
                       ("keyword", np.array([q.family == "keyword" for q in queries])),
                       ("misspelt keyword", np.array([q.family == "keyword (misspelt)" for q in queries])),
                       ("description (tags)", np.array([q.family == "description (tags)" for q in queries])),
                       ("ruled-out description", np.array([q.family == "description, ruled out" for q in queries]))]:
        for s in ("parser+hybrid", *ABLATIONS):
            v, t = results[s][1][mask & half], results[s][1][mask & ~half]
            line = f"  {name:<20} {s:<20} validation {np.nanmean(v):.3f}  test {np.nanmean(t):.3f}"
            out[f"{name} {s}"] = {"validation": float(np.nanmean(v)), "test": float(np.nanmean(t))}
            if s != "parser+hybrid":
                d, lo, hi = paired_difference(results["parser+hybrid"][1][mask & ~half], t)
                line += f"  parser+hybrid - this: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            print(line)
    return out


def table(queries: list[Query], results: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    families = list(dict.fromkeys(q.family for q in queries))
    big = np.array([len(q.relevant) >= 10 for q in queries])
    constraint = np.array([is_constraint(q) for q in queries])
    report: dict[str, Any] = {"families": {}}
    head = f"{'family':<26}{'n':>4}{'n>=10':>6}" + "".join(f"{s + ' P@10':>19}{'nDCG':>7}" for s in SYSTEMS)
    print("\nconstraint precision@10 (queries whose relevance set has >= 10 movies) and nDCG@10 (all queries)")
    print(head)
    print("-" * len(head))
    rows = [(f, np.array([q.family == f for q in queries])) for f in families]
    rows += [("all constraint queries", constraint)]
    for name, mask in rows:
        line = f"{name:<26}{int(mask.sum()):>4}{int((mask & big).sum()):>6}"
        fam: dict[str, Any] = {"n": int(mask.sum()), "n_big": int((mask & big).sum())}
        for s in SYSTEMS:
            precision, ndcg = results[s]
            p = float(precision[mask & big].mean()) if (mask & big).any() else float("nan")
            n = float(np.nanmean(ndcg[mask])) if mask.any() else float("nan")
            line += f"{p:>19.3f}{n:>7.3f}"
            fam[s] = {"precision_at_10_big": p, "ndcg_at_10": n}
        report["families"][name] = fam
        print(line)
    print("\npaired differences in nDCG@10 (95% bootstrap interval over queries)")
    for name, mask in [*rows, ("description (tags)", np.array([q.family == "description (tags)" for q in queries]))]:
        if not mask.any():
            continue
        base = results["dense"][1][mask]
        for s in ("hybrid", "parser+hybrid"):
            d, lo, hi = paired_difference(results[s][1][mask], base)
            print(f"  {name:<26} {s:<14} - dense: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        d, lo, hi = paired_difference(results["parser+hybrid"][1][mask], results["hybrid"][1][mask])
        print(f"  {name:<26} {'parser+hybrid':<14} - hybrid: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    for fam_name in ("description (tags)", "description (unseen tags)"):
        mask = np.array([q.family == fam_name for q in queries])
        if mask.any():
            dense = float(np.nanmean(results["dense"][1][mask]))
            ratios = {s: float(np.nanmean(results[s][1][mask])) / dense if dense else float("nan")
                      for s in SYSTEMS}
            report[f"{fam_name} ratio to dense"] = ratios
            print(f"\n{fam_name}: nDCG@10 relative to dense (target >= 1.5x): "
                  + ", ".join(f"{s} {r:.2f}x" for s, r in ratios.items()))
    p_big = results["parser+hybrid"][0][constraint & big]
    print(f"\nparser+hybrid constraint precision@10 on {len(p_big)} queries with >= 10 relevant movies: "
          f"{p_big.mean():.3f} (target >= 0.95)")
    report["parser_precision_big"] = float(p_big.mean())
    return report


if __name__ == "__main__":
    raise SystemExit(main())
