"""Join every source into one `Movie` per MovieLens movie, through MovieLens' links to IMDb and TMDB."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from index.errors import CatalogError
from index.movie import Movie
from index.sources import (
    LoadReport,
    MovieLensData,
    PosterSource,
    StrPath,
    TmdbRecord,
    load_movielens,
    load_movies_metadata,
    load_posters,
    load_reviews,
    load_tmdb_jsonl,
    movielens_format,
)

logger = logging.getLogger(__name__)

# Fields taken from the TMDB API record when it has them, else from movies_metadata.
TMDB_FIELDS = ("overview", "tagline", "keywords", "cast", "directors", "popularity", "vote_average",
               "vote_count", "release_date")


@dataclass
class Catalog:
    """Every MovieLens movie as a `Movie`, with the interactions and the report of what loading skipped.

    ``catalog[movie_id]`` is one `Movie`; iterating yields the movies.

    Example:
        >>> catalog = catalog_from_data_dir("../shared/data")
        >>> catalog[2571].display_title, catalog.coverage()["poster"]
        ('The Matrix (1999)', 4862)
    """

    movies: dict[int, Movie]
    ratings: pd.DataFrame  # user_id, movie_id, rating, timestamp
    tags: pd.DataFrame  # user_id, movie_id, tag, timestamp
    report: LoadReport = field(default_factory=LoadReport)
    sources: dict[str, str] = field(default_factory=dict)  # signal -> the file or folder it came from

    def __len__(self) -> int:
        return len(self.movies)

    def __getitem__(self, movie_id: int) -> Movie:
        return self.movies[movie_id]

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self.movies

    def __iter__(self) -> Iterator[Movie]:
        return iter(self.movies.values())

    def coverage(self) -> dict[str, int]:
        """How many movies have each signal: overview, reviews, poster, ratings, keywords, cast, tags...

        Example:
            >>> catalog_from_data_dir("../shared/data").coverage()["overview"]
            4067
        """
        counts = {"movies": len(self.movies)}
        for name in ("overview", "tagline", "keywords", "cast", "directors", "reviews", "poster", "tags",
                     "imdb_id", "tmdb_id", "popularity"):
            counts[name] = sum(1 for movie in self.movies.values() if getattr(movie, name))
        counts["ratings"] = sum(1 for movie in self.movies.values() if movie.rating_count)
        return counts


def build_catalog(
    movielens: StrPath | MovieLensData,
    *,
    tmdb_jsonl: StrPath | Mapping[int, TmdbRecord] | None = None,
    movies_metadata: StrPath | Mapping[int, TmdbRecord] | None = None,
    reviews: StrPath | pd.DataFrame | None = None,
    posters: StrPath | PosterSource | None = None,
    skip_bad_rows: bool = False,
    max_reviews_per_movie: int = 20,
) -> Catalog:
    """Load and join the sources into one `Movie` per MovieLens movie.

    Each optional source may be a path or what its loader returned. Movies join TMDB records by the
    tmdbId in MovieLens links, else by IMDb id. Overview, tagline, keywords, cast, directors,
    popularity, vote stats and release date come from the TMDB API dump first, then from
    movies_metadata for whatever is still empty. Reviews are the reviews CSV's (joined by movieId,
    imdbId or tmdbId) plus TMDB's embedded ones, deduplicated ignoring case and spacing, and capped at
    `max_reviews_per_movie` keeping the longest: a short "Great movie!" says little about a film, and
    length ranks the same whatever order the files list reviews in. Ratings give rating_count and
    rating_mean; tags are the movie's distinct tags, most used first. Genres and titles stay MovieLens'.

    Example:
        >>> catalog = build_catalog("../shared/data/ml-latest-small",
        ...                         tmdb_jsonl="../shared/data/tmdb/tmdb_api_movies.jsonl.gz")
        >>> "Woody" in catalog[1].overview
        True
    """
    if max_reviews_per_movie < 0:
        raise ValueError(f"max_reviews_per_movie must be >= 0, got {max_reviews_per_movie}")
    started = time.perf_counter()
    report = LoadReport()
    sources: dict[str, str] = {}
    data = (movielens if isinstance(movielens, MovieLensData)
            else load_movielens(movielens, skip_bad_rows=skip_bad_rows))
    report.merge(data.report)
    sources["movielens"] = str(data.path)

    api = _tmdb(tmdb_jsonl, load_tmdb_jsonl, "tmdb_jsonl", skip_bad_rows, report, sources)
    metadata = _tmdb(movies_metadata, load_movies_metadata, "movies_metadata", skip_bad_rows, report, sources)
    review_frame: pd.DataFrame | None
    if reviews is None or isinstance(reviews, pd.DataFrame):
        review_frame = reviews
    else:
        review_frame = load_reviews(reviews, skip_bad_rows=skip_bad_rows, report=report)
        sources["reviews"] = str(reviews)
    poster_source: PosterSource | None
    if posters is None or isinstance(posters, PosterSource):
        poster_source = posters
    else:
        poster_source = load_posters(posters, skip_bad_rows=skip_bad_rows, report=report)
        sources["posters"] = str(posters)

    links = data.links
    imdb_of = {int(m): str(i) for m, i in zip(links["movie_id"], links["imdb_id"], strict=True) if pd.notna(i)}
    tmdb_of = {int(m): int(t) for m, t in zip(links["movie_id"], links["tmdb_id"], strict=True) if pd.notna(t)}
    api_by_imdb, metadata_by_imdb = _by_imdb(api), _by_imdb(metadata)
    stats = data.ratings.groupby("movie_id")["rating"].agg(["size", "mean"])
    rating_counts = dict(zip(stats.index.tolist(), stats["size"].tolist(), strict=True))
    rating_means = dict(zip(stats.index.tolist(), stats["mean"].tolist(), strict=True))
    tags_by_movie = _distinct_tags(data.tags)
    reviews_by_key = _reviews_by_key(review_frame)

    movies: dict[int, Movie] = {}
    for movie_id, title, year, genres in zip(data.movies["movie_id"].tolist(), data.movies["title"].tolist(),
                                             data.movies["year"].tolist(), data.movies["genres"].tolist(),
                                             strict=True):
        imdb_id, tmdb_id = imdb_of.get(movie_id), tmdb_of.get(movie_id)
        records = [r for r in (_match(api, api_by_imdb, tmdb_id, imdb_id),
                               _match(metadata, metadata_by_imdb, tmdb_id, imdb_id)) if r is not None]
        movie = Movie(movie_id=movie_id, title=title, year=None if pd.isna(year) else int(year),
                      genres=list(genres), imdb_id=imdb_id, tmdb_id=tmdb_id)
        _fill_from_tmdb(movie, records)
        movie.reviews = select_reviews(
            [reviews_by_key.get(("movieId", str(movie_id)), []),
             reviews_by_key.get(("imdbId", movie.imdb_id or ""), []),
             reviews_by_key.get(("tmdbId", str(movie.tmdb_id)), []),
             *(record.reviews for record in records)],
            max_reviews_per_movie)
        movie.rating_count = int(rating_counts.get(movie_id, 0))
        movie.rating_mean = float(rating_means[movie_id]) if movie_id in rating_means else None
        movie.tags = tags_by_movie.get(movie_id, [])
        if poster_source is not None:
            movie.poster = poster_source.lookup(movie_id, movie.imdb_id, movie.tmdb_id)
        movies[movie_id] = movie

    catalog = Catalog(movies, data.ratings, data.tags, report, sources)
    coverage = catalog.coverage()
    logger.info("catalog: %d movies in %.2fs; overview %d, reviews %d, poster %d, ratings %d, keywords %d",
                len(movies), time.perf_counter() - started, coverage["overview"], coverage["reviews"],
                coverage["poster"], coverage["ratings"], coverage["keywords"])
    if report.rows_skipped:
        logger.warning("catalog: %d bad row(s) skipped:\n%s", report.rows_skipped, report.summary())
    return catalog


def select_reviews(groups: Iterable[Iterable[str]], limit: int) -> list[str]:
    """Distinct reviews (ignoring case and spacing) from `groups`, longest first, at most `limit`.

    Example:
        >>> select_reviews([["Great!", "A slow, patient film."], ["great! "]], limit=5)
        ['A slow, patient film.', 'Great!']
    """
    seen: set[str] = set()
    distinct: list[str] = []
    for group in groups:
        for text in group:
            key = " ".join(text.split()).casefold()
            if key and key not in seen:
                seen.add(key)
                distinct.append(text.strip())
    distinct.sort(key=len, reverse=True)  # stable: equal lengths keep source order
    return distinct[:limit]


def catalog_from_data_dir(data_dir: StrPath, *, skip_bad_rows: bool = False,
                          max_reviews_per_movie: int = 20) -> Catalog:
    """Build the catalog from a folder laid out like ``../shared/data``.

    Uses ``ml-latest-small/`` (else another ``ml-*`` release folder, or `data_dir` itself if it is one),
    ``tmdb/tmdb_api_movies.jsonl.gz`` (or ``.jsonl``), ``tmdb/movies_metadata.csv``,
    ``reviews/reviews.csv`` and ``posters/``. Only MovieLens is required: a missing source logs one
    info line and its signal stays absent.

    Example:
        >>> catalog = catalog_from_data_dir("../shared/data")
        >>> len(catalog), catalog.coverage()["reviews"]
        (9742, 1763)
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise CatalogError(f"{root}: not a folder; pass the data folder holding ml-latest-small/ (and "
                           f"optionally tmdb/, reviews/, posters/)", path=str(root))
    movielens = find_movielens_dir(root)
    optional = {
        "tmdb_jsonl": _first_file(root / "tmdb", ["tmdb_api_movies.jsonl.gz", "tmdb_api_movies.jsonl"]),
        "movies_metadata": _first_file(root / "tmdb", ["movies_metadata.csv"]),
        "reviews": _first_file(root / "reviews", ["reviews.csv", "reviews.csv.gz"]),
        "posters": root / "posters" if (root / "posters").is_dir() else None,
    }
    for name, found in optional.items():
        if found is None:
            logger.info("%s: no %s found; movies will lack that signal", root, name.replace("_", " "))
    return build_catalog(movielens, tmdb_jsonl=optional["tmdb_jsonl"],
                         movies_metadata=optional["movies_metadata"], reviews=optional["reviews"],
                         posters=optional["posters"], skip_bad_rows=skip_bad_rows,
                         max_reviews_per_movie=max_reviews_per_movie)


def find_movielens_dir(root: StrPath) -> Path:
    """The MovieLens release folder in `root`: `root` itself, ``ml-latest-small``, else the first ``ml-*``.

    Example:
        >>> find_movielens_dir("../shared/data").name
        'ml-latest-small'
    """
    folder = Path(root)
    if movielens_format(folder):
        return folder
    candidates = [folder / "ml-latest-small", *sorted(p for p in folder.glob("ml-*") if p.is_dir())]
    found = [p for p in dict.fromkeys(candidates) if p.is_dir() and movielens_format(p)]
    if not found:
        raise CatalogError(
            f"{folder}: no MovieLens release found; put one in {folder}/ml-latest-small/ (ratings.csv, "
            f"movies.csv, links.csv, tags.csv from https://grouplens.org/datasets/movielens/), or another "
            f"ml-* folder with ratings.csv + movies.csv, u.data + u.item, or ratings.dat + movies.dat",
            path=str(folder))
    if len(found) > 1:
        logger.info("%s: using %s (also found %s)", folder, found[0].name, [p.name for p in found[1:]])
    return found[0]


def _first_file(folder: Path, names: list[str]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _tmdb(source: StrPath | Mapping[int, TmdbRecord] | None, loader: _TmdbLoader, name: str,
          skip_bad_rows: bool, report: LoadReport, sources: dict[str, str]) -> Mapping[int, TmdbRecord]:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return source
    sources[name] = str(source)
    return loader(source, skip_bad_rows=skip_bad_rows, report=report)


class _TmdbLoader(Protocol):
    """The shape of `load_tmdb_jsonl` and `load_movies_metadata`."""

    def __call__(self, path: StrPath, *, skip_bad_rows: bool = False,
                 report: LoadReport | None = None) -> dict[int, TmdbRecord]: ...


def _by_imdb(records: Mapping[int, TmdbRecord]) -> dict[str, TmdbRecord]:
    by_imdb: dict[str, TmdbRecord] = {}
    for record in records.values():
        if record.imdb_id:
            by_imdb.setdefault(record.imdb_id, record)
    return by_imdb


def _match(records: Mapping[int, TmdbRecord], by_imdb: Mapping[str, TmdbRecord], tmdb_id: int | None,
           imdb_id: str | None) -> TmdbRecord | None:
    if tmdb_id is not None and tmdb_id in records:
        return records[tmdb_id]
    return by_imdb.get(imdb_id) if imdb_id else None


def _fill_from_tmdb(movie: Movie, records: list[TmdbRecord]) -> None:
    for name in TMDB_FIELDS:
        for record in records:
            value = getattr(record, name)
            if value is not None and value != [] and value != "":
                setattr(movie, name, list(value) if isinstance(value, list) else value)
                break
    if records:
        movie.tmdb_id = movie.tmdb_id or records[0].tmdb_id
        movie.imdb_id = movie.imdb_id or next((r.imdb_id for r in records if r.imdb_id), None)
    if movie.year is None and movie.release_date:
        movie.year = int(movie.release_date[:4])


def _distinct_tags(tags: pd.DataFrame) -> dict[int, list[str]]:
    """Each movie's tags, one spelling per case-insensitive tag, most used first then first used."""
    if tags.empty:
        return {}
    frame = pd.DataFrame({"movie_id": tags["movie_id"].to_numpy(), "tag": tags["tag"].str.strip(),
                          "order": np.arange(len(tags))})
    frame["folded"] = frame["tag"].str.casefold()
    grouped = (frame.groupby(["movie_id", "folded"], sort=False)
               .agg(tag=("tag", "first"), uses=("tag", "size"), order=("order", "min"))
               .reset_index()
               .sort_values(["movie_id", "uses", "order"], ascending=[True, False, True]))
    return {int(k): v for k, v in grouped.groupby("movie_id", sort=False)["tag"].agg(list).items()}


def _reviews_by_key(reviews: pd.DataFrame | None) -> dict[tuple[str, str], list[str]]:
    if reviews is None or reviews.empty:
        return {}
    missing = {"key_type", "key", "text"} - set(reviews.columns)
    if missing:
        raise CatalogError(f"reviews DataFrame lacks column(s) {sorted(missing)}; pass load_reviews()' result")
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for kind, key, text in zip(reviews["key_type"].tolist(), reviews["key"].tolist(), reviews["text"].tolist(),
                               strict=True):
        by_key[(kind, key)].append(text)
    return by_key
