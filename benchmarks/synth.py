"""Write a synthetic MovieLens release (ratings.csv, movies.csv, links.csv, tags.csv) with ML-32M's shape, so every
stage can be sized without a download.

    python benchmarks/synth.py --out runs/synth/ml-32m-synth                 # 32M ratings, 200k people, 87,585 movies
    python benchmarks/synth.py --ratings 1000000 --users 6250 --movies 15500 --out runs/synth/ml-1m-synth

How the data is generated (seeded by ``--seed``; the same flags give byte-identical files):

1. **Taste clusters.** ``TOPICS`` (20) clusters, each with a centre ``c_t ~ N(0, I_16)`` and a genre profile: one
   primary MovieLens genre and two secondary ones.
2. **Movies.** Each movie belongs to one cluster (cluster sizes from a Dirichlet(2)); its genres are the cluster's
   primary genre (probability 0.9), each secondary one (0.45) and one random genre (0.15), at least one in all;
   its factor is ``q_i = c_t + 0.7 * N(0, I)``. Its popularity weight is log-normal (``exp(2.0 * z)``): a few
   movies are rated by a third of all people, most by a handful, as in MovieLens. Its year is 1900-2023, mostly
   recent (two thirds from 1990 on); a movie can only be rated after January 1st of its year.
3. **People.** Each person rates ``20 + LogNormal`` movies (MovieLens keeps people with at least 20 ratings),
   scaled so the total is ``--ratings``: median about 80, mean ``ratings / users``, a long tail (capped at a
   quarter of the catalogue). Their taste is a Dirichlet(0.2) mixture over clusters (most people like two or
   three), their factor ``p_u = sum_t theta_ut c_t + 0.5 * N(0, I)``. They arrive between 1996 and 2023 (more in
   the years MovieLens grew) and rate over a log-normal span of days (median 3 days, some over years).
4. **Which movies.** A person's candidates are drawn with replacement, 75% from their clusters (cluster by
   ``theta_u``, then movie by popularity within it) and 25% from the whole catalogue by popularity, leaving out
   movies released after the person's last rating. Among the distinct candidates (2.5 per rating wanted, more
   drawn while short, from the whole catalogue more and more, from the third round half of them uniformly)
   they rate the ``n_u`` with the highest ``1.5 * p_u . q_i / 4 + Gumbel`` (sampling without
   replacement in proportion to ``exp(affinity)``): who rates what carries the taste structure, which is what
   ALS, item-kNN and EASE learn.
5. **Stars.** ``s = b_u + b_i + p_u . q_i / 4 + N(0, 0.6^2)`` (person bias ``N(0, 0.4^2)``, movie bias
   ``N(0, 0.35^2)`` plus 0.15 per standard deviation of log popularity) mapped by quantiles onto ML-32M's star
   shares (0.5 ... 5: 1.6, 3.1, 1.6, 6.6, 5.0, 19.6, 12.7, 26.6, 8.8, 14.5 %); ratings made before
   2003-02-18, when MovieLens introduced half stars, become whole stars (0.5-1.5 -> 1, 2-2.5 -> 2, 3-3.5 -> 3,
   4-4.5 -> 4), so the shares written are close to, not exactly, those.
6. **When.** Each rating's time is uniform over the person's span, and never before the movie's release.
7. **Tags.** ``--tags`` (default ratings / 16) rows: a random rating's person and movie, a word from the
   movie's cluster vocabulary, a time just after the rating.
8. **Links.** ``imdbId`` 9,000,001 onwards (not real IMDb titles), no ``tmdbId``: nothing joins real TMDB data.

Ratings are written a block of people at a time (about a million ratings per block) with pyarrow, sorted by
userId then movieId as MovieLens does, so memory stays near one block whatever the size. ``stats.json`` beside
the files records the shape actually written.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

log = logging.getLogger("synth")

GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
#: ML-32M's share of each star value, 0.5 to 5.0
STAR_SHARES = np.array([1.6, 3.1, 1.6, 6.6, 5.0, 19.6, 12.7, 26.6, 8.8, 14.5]) / 100
STARS = np.arange(1, 11) / 2
STAR_TEXT = pa.array([f"{s:.1f}" for s in STARS])
HALF_STARS_FROM = 1045526400  # 2003-02-18: MovieLens allowed half stars from then on
FIRST_TS, LAST_TS = 820454400, 1697155200  # 1996-01-01 .. 2023-10-13
TOPICS = 20
DIM = 16
WORDS = ("atmospheric", "twist ending", "dark", "funny", "quirky", "visually stunning", "slow", "classic",
         "cult", "violent", "romantic", "thought-provoking", "feel-good", "based on a book", "surreal", "tense",
         "witty", "epic", "bleak", "heartwarming", "stylized", "satire", "nostalgic", "gritty", "whimsical",
         "disturbing", "inspirational", "clever", "predictable", "beautiful score", "great acting", "sequel",
         "remake", "space", "heist", "time travel", "superhero", "zombies", "dystopia", "coming of age")


@dataclass
class Shape:
    """What a run wrote (saved as stats.json)."""

    ratings: int
    users: int
    movies: int
    rated_movies: int
    tags: int
    seed: int
    seconds: float
    star_shares: dict[str, float]
    ratings_per_user_median: float
    ratings_per_user_max: int
    ratings_of_top_movie: int
    movies_under_5_ratings: float
    first_timestamp: int
    last_timestamp: int


@dataclass
class World:
    """The latent model every block of people is drawn from."""

    centres: np.ndarray  # topics x DIM
    movie_topic: np.ndarray
    movie_factor: np.ndarray  # movies x DIM
    movie_bias: np.ndarray
    movie_weight: np.ndarray  # popularity, sums to 1
    release_ts: np.ndarray
    by_topic: np.ndarray  # movie indices sorted by topic
    topic_cum: np.ndarray  # per position of by_topic: topic + cumulative share of popularity within the topic
    global_cum: np.ndarray
    topic_words: np.ndarray  # topics x 8 word indices
    cut: np.ndarray  # the 9 thresholds on standardised star scores


def _movies(rng: np.random.Generator, n_movies: int) -> tuple[World, list[str], list[str], np.ndarray]:
    centres = rng.normal(size=(TOPICS, DIM))
    sizes = rng.dirichlet(np.full(TOPICS, 2.0))
    topic = rng.choice(TOPICS, size=n_movies, p=sizes)
    profile = np.stack([rng.choice(len(GENRES), 3, replace=False) for _ in range(TOPICS)])
    has = np.zeros((n_movies, len(GENRES)), dtype=bool)
    rows = np.arange(n_movies)
    has[rows, profile[topic, 0]] = rng.random(n_movies) < 0.9
    for j in (1, 2):
        has[rows, profile[topic, j]] |= rng.random(n_movies) < 0.45
    extra = rng.random(n_movies) < 0.15
    has[rows[extra], rng.integers(0, len(GENRES), extra.sum())] = True
    none = ~has.any(axis=1)
    has[rows[none], profile[topic[none], 0]] = True
    genres = ["|".join(GENRES[j] for j in np.flatnonzero(h)) for h in has]

    factor = centres[topic] + 0.7 * rng.normal(size=(n_movies, DIM))
    z = rng.normal(size=n_movies)
    weight = np.exp(2.0 * z)
    weight /= weight.sum()
    bias = rng.normal(0.0, 0.35, n_movies) + 0.15 * z
    recent = rng.random(n_movies) < 2 / 3
    year = np.where(recent, 1990 + np.floor(33.99 * rng.beta(1.6, 1.0, n_movies)),
                    1900 + np.floor(90 * rng.beta(2.5, 1.2, n_movies))).astype(np.int64)
    release = (year - 1970).astype("datetime64[Y]").astype("datetime64[s]").astype(np.int64)  # January 1st
    adjectives = ("Silent", "Last", "Red", "Hidden", "Lost", "Broken", "Golden", "Dark", "Little", "Wild", "Final",
                  "Secret", "Endless", "Midnight", "Burning", "Frozen")
    nouns = ("River", "City", "Road", "Garden", "Empire", "Promise", "Island", "Storm", "Letter", "Machine", "Dream",
             "Season", "Stranger", "Kingdom", "Signal", "Harbor")
    titles = [f"The {adjectives[i % 16]} {nouns[(i // 16) % 16]} {i + 1} ({y})" for i, y in enumerate(year)]

    by_topic = np.argsort(topic, kind="stable")
    sorted_topic = topic[by_topic]
    w = weight[by_topic]
    within = np.zeros(n_movies)
    for t in range(TOPICS):
        sel = sorted_topic == t
        if sel.any():
            within[sel] = np.cumsum(w[sel]) / w[sel].sum()
    world = World(centres, topic, factor, bias, weight, release, by_topic, sorted_topic + within,
                  np.cumsum(weight), rng.integers(0, len(WORDS), (TOPICS, 8)), np.zeros(9))
    return world, titles, genres, year


def _activity(rng: np.random.Generator, n_users: int, n_ratings: int, n_movies: int) -> np.ndarray:
    """Ratings per person: 20 plus a log-normal tail, scaled to add up to ``n_ratings`` (each at most a quarter
    of the catalogue; what a capped person cannot take goes to the others in proportion)."""
    floor = min(20, n_ratings // n_users)
    room = max(1, n_movies // 4 - floor)
    tail = np.exp(rng.normal(0.0, 1.25, n_users))
    target = n_ratings - floor * n_users
    extra = tail * target / tail.sum()
    for _ in range(50):
        capped = extra >= room
        if not capped.any() or (~capped).sum() == 0:
            break
        extra = np.where(capped, room, tail * (target - room * capped.sum()) / tail[~capped].sum())
        if (extra[~capped] <= room).all():
            break
    extra = np.minimum(extra, room)
    counts = floor + np.floor(extra).astype(np.int64)
    short = int(n_ratings - counts.sum())
    if short > 0:  # the largest remainders get the last ratings
        order = np.argsort(-(extra - np.floor(extra)))
        counts[order[:short]] += 1
    return counts


def _arrivals(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each person's first and last rating time."""
    years = np.arange(1996, 2024)
    weight = np.interp(years, [1996, 2000, 2004, 2009, 2013, 2016, 2019, 2023], [2, 6, 3, 5, 3, 6, 5, 3])
    year = rng.choice(years, size=n, p=weight / weight.sum())
    start = (year - 1970) * 31_556_952 + rng.integers(0, 31_556_952, n)
    span = np.exp(rng.normal(np.log(3.0), 2.2, n)) * 86_400
    start = np.clip(start, FIRST_TS, LAST_TS - 86_400)
    return start, np.minimum(start + span, LAST_TS).astype(np.int64)


def _draw(rng: np.random.Generator, world: World, theta_cum: np.ndarray, owner: np.ndarray,
          taste_share: float, uniform_share: float = 0.0) -> np.ndarray:
    """One movie per entry of ``owner`` (a person's position in the block): from their clusters by popularity,
    from the catalogue by popularity, or (``uniform_share``) from the catalogue uniformly."""
    n = len(owner)
    movies = rng.integers(0, len(world.movie_weight), n)
    pick = rng.random(n)
    from_taste = pick < taste_share
    idx = np.flatnonzero(from_taste)
    topic = (theta_cum[owner[idx]] < rng.random(len(idx))[:, None]).sum(axis=1).clip(0, TOPICS - 1)
    pos = np.searchsorted(world.topic_cum, topic + rng.random(len(idx)) * (1 - 1e-9)).clip(0, len(world.by_topic) - 1)
    movies[idx] = world.by_topic[pos]
    idx = np.flatnonzero(~from_taste & (pick < 1 - uniform_share))
    movies[idx] = np.searchsorted(world.global_cum, rng.random(len(idx))).clip(0, len(world.global_cum) - 1)
    return movies


def _block(rng: np.random.Generator, world: World, counts: np.ndarray, start: np.ndarray, end: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(person in block, movie, star index 0-9, timestamp) of one block of people."""
    n_users, n_movies = len(counts), len(world.movie_weight)
    theta = rng.dirichlet(np.full(TOPICS, 0.2), size=n_users)
    theta_cum = np.cumsum(theta, axis=1)
    user_factor = theta @ world.centres + 0.5 * rng.normal(size=(n_users, DIM))
    user_bias = rng.normal(0.0, 0.4, n_users)

    codes = np.zeros(0, dtype=np.int64)
    wanted = counts.copy()
    for round_ in range(8):  # people still short draw again, more widely (heavy raters exhaust their clusters)
        owner = np.repeat(np.arange(n_users), np.ceil(wanted * (2.5 if round_ == 0 else 4.0)).astype(np.int64))
        movie = _draw(rng, world, theta_cum, owner, 0.75 / (1 + round_), 0.0 if round_ < 2 else 0.5)
        ok = world.release_ts[movie] <= end[owner]
        codes = np.unique(np.concatenate([codes, owner[ok] * n_movies + movie[ok]]))
        have = np.bincount(codes // n_movies, minlength=n_users)
        wanted = np.where(have < counts, counts - have, 0)
        if not wanted.any():
            break
    owner, movie = codes // n_movies, codes % n_movies
    affinity = np.einsum("ij,ij->i", user_factor[owner], world.movie_factor[movie]) / 4.0
    key = 1.5 * affinity + rng.gumbel(size=len(owner))
    order = np.lexsort((-key, owner))
    first = np.searchsorted(owner[order], np.arange(n_users))
    rank = np.arange(len(order)) - first[owner[order]]
    chosen = order[rank < counts[owner[order]]]
    chosen.sort()  # back to (person, movie) order, as MovieLens files are
    owner, movie, affinity = owner[chosen], movie[chosen], affinity[chosen]

    score = user_bias[owner] + world.movie_bias[movie] + affinity + rng.normal(0.0, 0.6, len(owner))
    if not world.cut.any():  # the quantile cut points, fixed by the first block
        world.cut[:] = np.quantile(score, np.cumsum(STAR_SHARES)[:-1])
    star = np.searchsorted(world.cut, score)
    when = start[owner] + (rng.random(len(owner)) * (end[owner] - start[owner])).astype(np.int64)
    when = np.maximum(when, world.release_ts[movie])
    whole = when < HALF_STARS_FROM  # before half stars: 0.5-1.5 -> 1, 2-2.5 -> 2, 3-3.5 -> 3, 4-4.5 -> 4, 5 -> 5
    star[whole] = np.array([1, 1, 1, 3, 3, 5, 5, 7, 7, 9])[star[whole]]
    return owner, movie, star, when


def _writer(path: Path, header: str, schema: pa.Schema) -> tuple[object, pacsv.CSVWriter]:
    fh = open(path, "wb")  # noqa: SIM115 - closed by the caller after the last block
    fh.write((header + "\n").encode())
    return fh, pacsv.CSVWriter(fh, schema, write_options=pacsv.WriteOptions(include_header=False,
                                                                            quoting_style="none"))


def generate(out: str | Path, *, ratings: int = 32_000_000, users: int = 200_000, movies: int = 87_585,
             seed: int = 42, tags: int | None = None, block_ratings: int = 1_000_000) -> Shape:
    """Write ratings.csv, movies.csv, links.csv, tags.csv and stats.json under ``out``; returns the shape written.

    Example:
        >>> # generate("runs/synth/ml-1m-synth", ratings=1_000_000, users=6_250, movies=15_500)
    """
    if ratings < users or users < 1 or movies < 20:
        raise SystemExit(f"need at least one rating per person and 20 movies (got {ratings=}, {users=}, {movies=})")
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    world, titles, genres, _year = _movies(rng, movies)
    counts = _activity(rng, users, ratings, movies)
    start, end = _arrivals(rng, users)
    tag_share = (ratings / 16 if tags is None else tags) / ratings

    pacsv.write_csv(pa.table({"movieId": pa.array(np.arange(1, movies + 1), pa.int32()), "title": titles,
                              "genres": genres}),
                    out / "movies.tmp", pacsv.WriteOptions(include_header=False, quoting_style="none"))
    (out / "movies.csv").write_bytes(b"movieId,title,genres\n" + (out / "movies.tmp").read_bytes())
    (out / "movies.tmp").unlink()
    links = pa.table({"movieId": pa.array(np.arange(1, movies + 1), pa.int32()),
                      "imdbId": pa.array(np.arange(9_000_001, 9_000_001 + movies), pa.int32()),
                      "tmdbId": pa.nulls(movies, pa.int32())})
    fh, links_writer = _writer(out / "links.csv", "movieId,imdbId,tmdbId", links.schema)
    links_writer.write_table(links)
    links_writer.close()
    fh.close()  # type: ignore[attr-defined]

    rating_schema = pa.schema([("userId", pa.int32()), ("movieId", pa.int32()), ("rating", pa.string()),
                               ("timestamp", pa.int64())])
    tag_schema = pa.schema([("userId", pa.int32()), ("movieId", pa.int32()), ("tag", pa.string()),
                            ("timestamp", pa.int64())])
    rfh, ratings_out = _writer(out / "ratings.csv", "userId,movieId,rating,timestamp", rating_schema)
    tfh, tags_out = _writer(out / "tags.csv", "userId,movieId,tag,timestamp", tag_schema)
    star_counts = np.zeros(10, dtype=np.int64)
    per_movie = np.zeros(movies, dtype=np.int64)
    written = n_tags = 0
    first_ts, last_ts = LAST_TS, FIRST_TS
    bounds = np.searchsorted(np.cumsum(counts), np.arange(block_ratings, counts.sum() + block_ratings, block_ratings))
    lo = 0
    for hi in np.unique(np.minimum(bounds + 1, users)):
        owner, movie, star, when = _block(rng, world, counts[lo:hi], start[lo:hi], end[lo:hi])
        user_id = (owner + lo + 1).astype(np.int32)
        ratings_out.write_table(pa.table({"userId": user_id, "movieId": (movie + 1).astype(np.int32),
                                          "rating": STAR_TEXT.take(pa.array(star)), "timestamp": when},
                                         schema=rating_schema))
        tagged = np.flatnonzero(rng.random(len(owner)) < tag_share)
        words = np.array(WORDS, dtype=object)[world.topic_words[world.movie_topic[movie[tagged]],
                                                                rng.integers(0, 8, len(tagged))]]
        tags_out.write_table(pa.table({"userId": user_id[tagged], "movieId": (movie[tagged] + 1).astype(np.int32),
                                       "tag": pa.array(words, pa.string()),
                                       "timestamp": when[tagged] + rng.integers(1, 600, len(tagged))},
                                      schema=tag_schema))
        star_counts += np.bincount(star, minlength=10)
        per_movie += np.bincount(movie, minlength=movies)
        written += len(owner)
        n_tags += len(tagged)
        first_ts, last_ts = min(first_ts, int(when.min())), max(last_ts, int(when.max()))
        log.info("people %d-%d: %d ratings so far", lo + 1, hi, written)
        lo = hi
    for writer, handle in ((ratings_out, rfh), (tags_out, tfh)):
        writer.close()
        handle.close()  # type: ignore[attr-defined]
    rated = per_movie[per_movie > 0]
    shape = Shape(written, users, movies, int(len(rated)), n_tags, seed, round(time.perf_counter() - started, 1),
                  {f"{s:.1f}": round(float(c / written), 4) for s, c in zip(STARS, star_counts, strict=True)},
                  float(np.median(counts)), int(counts.max()), int(per_movie.max()),
                  round(float((per_movie < 5).mean()), 4), first_ts, last_ts)
    (out / "stats.json").write_text(json.dumps(asdict(shape), indent=2))
    return shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the release into")
    parser.add_argument("--ratings", type=int, default=32_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--movies", type=int, default=87_585)
    parser.add_argument("--tags", type=int, default=None, help="tag rows (default: ratings / 16)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    shape = generate(args.out, ratings=args.ratings, users=args.users, movies=args.movies, seed=args.seed,
                     tags=args.tags)
    print(json.dumps(asdict(shape), indent=2))


if __name__ == "__main__":
    main()
