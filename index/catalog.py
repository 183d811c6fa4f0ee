"""Join every source into one `Movie` per MovieLens movie, through MovieLens' links to IMDb and TMDB."""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from index.errors import CatalogError
from index.merge import merge_records
from index.movie import Movie
from index.sources import (
    LoadReport,
    MovieLensData,
    PosterSource,
    StrPath,
    load_movielens,
    load_posters,
    load_reviews,
    movielens_format,
)
from index.sources.common import MovieRecord
from index.sources.formats import DESCRIPTIONS, LOADERS, MetadataFormat, detect_format

logger = logging.getLogger(__name__)

#: Which metadata source wins when sources disagree on a single-valued field (overview, runtime...):
#: the live API first, then the curated Kaggle TMDB 5000 export, The Movies Dataset, the Udacity copy
#: (abridged, once mis-encoded), and IMDB 5000 (scraped, fewest fields) last. People and keywords are
#: the union of all, in this order (see `index.merge`).
METADATA_PRECEDENCE: tuple[MetadataFormat, ...] = (
    "tmdb_api", "tmdb_5000_movies", "tmdb_5000_credits", "movies_metadata", "tmdb_movie_data", "imdb_5000")
#: The fields `Catalog.coverage_table` reports, each with the `Movie` attribute that holds it.
COVERAGE_FIELDS = {"overview": "overview", "directors": "directors", "cast": "cast", "keywords": "keywords",
                   "companies": "companies", "collection": "collection", "language": "original_language",
                   "runtime": "runtime", "poster": "poster", "reviews": "reviews", "tags": "tags"}
# Where each metadata format is looked for in a data folder, its usual file names first.
_USUAL_NAMES: dict[MetadataFormat, tuple[str, ...]] = {
    "tmdb_api": ("tmdb/tmdb_api_movies.jsonl.gz", "tmdb/tmdb_api_movies.jsonl"),
    "tmdb_5000_movies": ("tmdb/tmdb_5000_movies.csv",), "tmdb_5000_credits": ("tmdb/tmdb_5000_credits.csv",),
    "movies_metadata": ("tmdb/movies_metadata.csv",), "tmdb_movie_data": ("tmdb/tmdb-movies.csv",),
    "imdb_5000": ("imdb/movie_metadata.csv",),
}
_METADATA_FOLDERS = ("tmdb", "imdb", "")
_METADATA_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json.gz")
MetadataInput = StrPath | Mapping[Any, MovieRecord] | None


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
            6124
        """
        counts = {"movies": len(self.movies)}
        for name in ("overview", "tagline", "keywords", "cast", "directors", "writers", "composers", "companies",
                     "collection", "original_language", "spoken_languages", "countries", "runtime", "reviews",
                     "poster", "tags", "imdb_id", "tmdb_id", "popularity"):
            counts[name] = sum(1 for movie in self.movies.values() if getattr(movie, name))
        counts["ratings"] = sum(1 for movie in self.movies.values() if movie.rating_count)
        return counts

    def coverage_by_source(self) -> dict[str, dict[str, int]]:
        """Per reported field (`COVERAGE_FIELDS`): ``{"movies": n, <source>: movies it supplied, ...}``.

        A movie counts once in "movies" and once for each source its value came from (people and
        keywords are unions, so their sources add up to more than the movies).

        Example:
            >>> catalog_from_data_dir("../shared/data").coverage_by_source()["runtime"]["movies"]
            6128
        """
        table: dict[str, dict[str, int]] = {}
        for label, name in COVERAGE_FIELDS.items():
            row = {"movies": 0}
            for movie in self.movies.values():
                if getattr(movie, name):
                    row["movies"] += 1
                    for source in movie.provenance.get(name, []):
                        row[source] = row.get(source, 0) + 1
            table[label] = row
        return table

    def coverage_table(self) -> str:
        """`coverage_by_source` as a printable table, one row per field.

        Example:
            >>> print(catalog_from_data_dir("../shared/data").coverage_table().splitlines()[0])
            field          movies  share  sources (movies each supplied)
        """
        total = max(len(self.movies), 1)
        lines = [f"{'field':<12} {'movies':>8}  share  sources (movies each supplied)"]
        for label, row in self.coverage_by_source().items():
            supplied = sorted(((s, n) for s, n in row.items() if s != "movies"), key=lambda sn: (-sn[1], sn[0]))
            text = ", ".join(f"{source} {count:,}" for source, count in supplied) or "-"
            lines.append(f"{label:<12} {row['movies']:>8,} {row['movies'] / total:>6.1%}  {text}")
        return "\n".join(lines)


def build_catalog(
    movielens: StrPath | MovieLensData,
    *,
    tmdb_jsonl: MetadataInput = None,
    movies_metadata: MetadataInput = None,
    tmdb_5000_movies: MetadataInput = None,
    tmdb_5000_credits: MetadataInput = None,
    tmdb_movie_data: MetadataInput = None,
    imdb_5000: MetadataInput = None,
    reviews: StrPath | pd.DataFrame | None = None,
    posters: StrPath | PosterSource | None = None,
    skip_bad_rows: bool = False,
    max_reviews_per_movie: int = 20,
) -> Catalog:
    """Load and join the sources into one `Movie` per MovieLens movie, merging the metadata sources.

    Each optional source may be a path or what its loader returned (records keyed by TMDB id, or by
    IMDb id for `imdb_5000`). Movies join a TMDB-keyed source by the tmdbId in MovieLens links, else by
    IMDb id where that source carries one; IMDB 5000 by IMDb id. The metadata is merged by
    `index.merge.merge_records` in `METADATA_PRECEDENCE` order: single-valued fields from the first
    source that has them, people and keywords as the de-duplicated union; ``movie.provenance`` says
    which source supplied each field. Reviews are the reviews CSV's (joined by movieId, imdbId or
    tmdbId) plus TMDB's embedded ones, deduplicated ignoring case and spacing, and capped at
    `max_reviews_per_movie` keeping the longest: a short "Great movie!" says little about a film, and
    length ranks the same whatever order the files list reviews in. Ratings give rating_count and
    rating_mean; tags are the movie's distinct tags, most used first. Genres and titles stay MovieLens'.

    Example:
        >>> catalog = build_catalog("../shared/data/ml-latest-small",
        ...                         tmdb_jsonl="../shared/data/tmdb/tmdb_api_movies.jsonl.gz")
        >>> "Woody" in catalog[1].overview, catalog[1].provenance["overview"]
        (True, ['tmdb_api'])
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

    given: dict[MetadataFormat, MetadataInput] = {
        "tmdb_api": tmdb_jsonl, "tmdb_5000_movies": tmdb_5000_movies, "tmdb_5000_credits": tmdb_5000_credits,
        "movies_metadata": movies_metadata, "tmdb_movie_data": tmdb_movie_data, "imdb_5000": imdb_5000}
    metadata = {kind: _metadata(given[kind], kind, skip_bad_rows, report, sources) for kind in METADATA_PRECEDENCE}
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
    by_imdb = {kind: _by_imdb(records) for kind, records in metadata.items()}
    stats = data.ratings.groupby("movie_id")["rating"].agg(["size", "mean"])
    rating_counts = dict(zip(stats.index.tolist(), stats["size"].tolist(), strict=True))
    rating_means = dict(zip(stats.index.tolist(), stats["mean"].tolist(), strict=True))
    tags_by_movie = distinct_tags(data.tags)
    reviews_by_key = _reviews_by_key(review_frame)
    review_rating = _review_ratings(review_frame)

    movies: dict[int, Movie] = {}
    for movie_id, title, year, genres in zip(data.movies["movie_id"].tolist(), data.movies["title"].tolist(),
                                             data.movies["year"].tolist(), data.movies["genres"].tolist(),
                                             strict=True):
        imdb_id, tmdb_id = imdb_of.get(movie_id), tmdb_of.get(movie_id)
        records = [(kind, record) for kind in METADATA_PRECEDENCE
                   if (record := _match(metadata[kind], by_imdb[kind], tmdb_id, imdb_id)) is not None]
        movie = Movie(movie_id=movie_id, title=title, year=None if pd.isna(year) else int(year),
                      genres=list(genres), imdb_id=imdb_id, tmdb_id=tmdb_id)
        _fill_from_records(movie, records)
        from_file = [reviews_by_key.get(("movieId", str(movie_id)), []),
                     reviews_by_key.get(("imdbId", movie.imdb_id or ""), []),
                     reviews_by_key.get(("tmdbId", str(movie.tmdb_id)), [])]
        embedded = [(kind, record.reviews) for kind, record in records if record.reviews]
        movie.reviews = select_reviews([*from_file, *(texts for _, texts in embedded)], max_reviews_per_movie)
        movie.review_ratings = [review_rating.get(_review_key(text)) for text in movie.reviews]
        if movie.reviews:
            movie.provenance["reviews"] = (["reviews"] if any(from_file) else []) + [kind for kind, _ in embedded]
        movie.rating_count = int(rating_counts.get(movie_id, 0))
        movie.rating_mean = float(rating_means[movie_id]) if movie_id in rating_means else None
        movie.tags = tags_by_movie.get(movie_id, [])
        if movie.tags:
            movie.provenance["tags"] = ["movielens"]
        if poster_source is not None:
            movie.poster = poster_source.lookup(movie_id, movie.imdb_id, movie.tmdb_id)
            if movie.poster:
                movie.provenance["poster"] = ["posters"]
        movies[movie_id] = movie

    inferred = infer_collections(movies)
    catalog = Catalog(movies, data.ratings, data.tags, report, sources)
    coverage = catalog.coverage()
    logger.info("catalog: %d movies put in a franchise by their titles", inferred)
    logger.info("catalog: %d movies in %.2fs; overview %d, directors %d, cast %d, keywords %d, reviews %d, "
                "poster %d, ratings %d", len(movies), time.perf_counter() - started, coverage["overview"],
                coverage["directors"], coverage["cast"], coverage["keywords"], coverage["reviews"],
                coverage["poster"], coverage["ratings"])
    if report.rows_skipped:
        logger.warning("catalog: %d bad row(s) skipped:\n%s", report.rows_skipped, report.summary())
    return catalog


#: what may follow a franchise's name in a later film's title: "Toy Story 3", "Rocky IV", "Harry Potter and the
#: Chamber of Secrets", "The Lord of the Rings: The Two Towers", "Part 2"
_SEQUEL_TAIL = re.compile(r"(?::|\s+[-–]\s|\s+(?:\d+|[IVX]{1,4}|part|and\s+the|&)\b)", re.I)
#: a leading article either side may drop ("Exorcist: The Beginning" is a film of "The Exorcist Collection")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+")


def infer_collections(movies: Mapping[int, Movie]) -> int:
    """Put a movie no source puts in a franchise into the one whose name its title starts with, followed by a
    sequel's mark (see ``_SEQUEL_TAIL``) or by nothing (unless it remakes a film of it), where it shares a
    production company or a director with a film in it. The files give collections for about 4,000 of the 9,742
    movies, so "Harry Potter films" found one of eight. Sets ``provenance["collection"]`` to ``["title"]``;
    returns how many movies gained a franchise.

    Example:
        >>> first = Movie(movie_id=1, title="Toy Story", year=1995, genres=[], companies=["Pixar"],
        ...               collection="Toy Story Collection")
        >>> third = Movie(movie_id=2, title="Toy Story 3", year=2010, genres=[], companies=["Pixar"])
        >>> infer_collections({1: first, 2: third}), third.collection
        (1, 'Toy Story Collection')
    """
    members: dict[str, list[Movie]] = defaultdict(list)
    for movie in movies.values():
        if movie.collection:
            members[movie.collection].append(movie)
    names: dict[str, list[tuple[str, str]]] = defaultdict(list)  # by first word: 87k titles x 5k names is slow
    for c in sorted(members, key=len, reverse=True):  # "The Lord of the Rings Animated" before "The Lord of the Rings"
        name = _LEADING_ARTICLE.sub("", re.sub(r"\s+collection$", "", c, flags=re.I).strip().casefold())
        names[_first_word(name)].append((name, c))
    added, before = 0, -1
    while added != before:  # a film that joined counts for the next: Deathly Hallows shares only David Yates with them
        before = added
        added += _join_collections(movies, names, members)
    return added


def _first_word(title: str) -> str:
    return re.split(r"[\s:,]+", title, maxsplit=1)[0]


def _join_collections(movies: Mapping[int, Movie], names: Mapping[str, list[tuple[str, str]]],
                      members: dict[str, list[Movie]]) -> int:
    added = 0
    for movie in movies.values():
        title = _LEADING_ARTICLE.sub("", movie.title.casefold())
        if movie.collection or not title:
            continue
        for name, collection in names.get(_first_word(title), []):
            rest = title[len(name):] if len(name) >= 3 and title.startswith(name) else None
            if rest is None or (rest and not _SEQUEL_TAIL.match(rest)):
                continue
            if not rest and any(_LEADING_ARTICLE.sub("", o.title.casefold()) == title for o in members[collection]):
                continue  # a remake of a film in it (Psycho, 1998), not a part of it
            if any(set(movie.companies) & set(o.companies) or set(movie.directors) & set(o.directors)
                   for o in members[collection]):
                movie.collection = collection
                movie.provenance["collection"] = ["title"]
                members[collection].append(movie)
                added += 1
                break
    return added


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
    ``reviews/reviews.csv``, ``posters/``, and every movie-metadata file found in ``tmdb/``, ``imdb/``
    or the folder itself, whatever its name, recognised by its header (`detect_metadata_files`). Only
    MovieLens is required: a missing source logs one info line and its signal stays absent.

    Example:
        >>> catalog = catalog_from_data_dir("../shared/data")
        >>> len(catalog), catalog.coverage()["reviews"]
        (9742, 1763)
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise CatalogError(f"{root}: not a folder; pass the data folder holding ml-latest-small/ (and "
                           f"optionally tmdb/, imdb/, reviews/, posters/)", path=str(root))
    movielens = find_movielens_dir(root)
    found = detect_metadata_files(root)
    optional: dict[str, Path | None] = {
        "reviews": _first_file(root / "reviews", ["reviews.csv", "reviews.csv.gz"]),
        "posters": root / "posters" if (root / "posters").is_dir() else None,
    }
    for kind in METADATA_PRECEDENCE:
        if kind not in found:
            logger.info("%s: no %s found; movies will lack what it adds", root, DESCRIPTIONS[kind])
    for name, path in optional.items():
        if path is None:
            logger.info("%s: no %s found; movies will lack that signal", root, name)
    return build_catalog(movielens, tmdb_jsonl=found.get("tmdb_api"), movies_metadata=found.get("movies_metadata"),
                         tmdb_5000_movies=found.get("tmdb_5000_movies"),
                         tmdb_5000_credits=found.get("tmdb_5000_credits"),
                         tmdb_movie_data=found.get("tmdb_movie_data"), imdb_5000=found.get("imdb_5000"),
                         reviews=optional["reviews"], posters=optional["posters"], skip_bad_rows=skip_bad_rows,
                         max_reviews_per_movie=max_reviews_per_movie)


def detect_metadata_files(root: StrPath) -> dict[MetadataFormat, Path]:
    """The movie-metadata files in a data folder's ``tmdb/``, ``imdb/`` and top level, by format.

    Each CSV or JSON-lines file (gzipped too) is recognised by its header, so a renamed file is still
    read and a file under a usual name but in another format is read as what it is. Where two files
    hold one format, the one under the usual name is used, else one in its usual folder, else the first
    by name, and the others are logged as ignored.

    Example:
        >>> sorted(detect_metadata_files("../shared/data"))[:3]
        ['imdb_5000', 'movies_metadata', 'tmdb_5000_credits']
    """
    folder = Path(root)
    candidates: dict[MetadataFormat, list[Path]] = defaultdict(list)
    for sub in _METADATA_FOLDERS:
        directory = folder / sub if sub else folder
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.is_file() and path.name.lower().endswith(_METADATA_SUFFIXES):
                kind = detect_format(path)
                if kind is not None:
                    candidates[kind].append(path)
    chosen: dict[MetadataFormat, Path] = {}
    for kind, paths in candidates.items():
        usual = [folder / name for name in _USUAL_NAMES[kind]]
        home = {path.parent for path in usual}
        paths.sort(key=lambda p: (p not in usual, p.parent not in home, str(p)))
        chosen[kind] = paths[0]
        if len(paths) > 1:
            logger.warning("%s: %d files hold %s; reading %s, ignoring %s", folder, len(paths), DESCRIPTIONS[kind],
                           paths[0], [str(p) for p in paths[1:]])
    return chosen


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


def _metadata(source: MetadataInput, kind: MetadataFormat, skip_bad_rows: bool, report: LoadReport,
              sources: dict[str, str]) -> Mapping[Any, MovieRecord]:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return source
    sources[kind] = str(source)
    found = detect_format(source) if Path(source).is_file() else kind
    if found is not None and found != kind:
        raise CatalogError(f"{source}, line 1 (header): it looks like {DESCRIPTIONS[found]}, not "
                           f"{DESCRIPTIONS[kind]}; pass it as {found}=", path=str(source), line=1)
    return LOADERS[kind](source, skip_bad_rows=skip_bad_rows, report=report)


def _by_imdb(records: Mapping[Any, MovieRecord]) -> dict[str, MovieRecord]:
    by_imdb: dict[str, MovieRecord] = {}
    for record in records.values():
        if record.imdb_id:
            by_imdb.setdefault(record.imdb_id, record)
    return by_imdb


def _match(records: Mapping[Any, MovieRecord], by_imdb: Mapping[str, MovieRecord], tmdb_id: int | None,
           imdb_id: str | None) -> MovieRecord | None:
    if tmdb_id is not None and tmdb_id in records:
        return records[tmdb_id]
    return by_imdb.get(imdb_id) if imdb_id else None


def _fill_from_records(movie: Movie, records: Sequence[tuple[str, MovieRecord]]) -> None:
    fields, provenance = merge_records(records)
    for name, value in fields.items():
        setattr(movie, name, value)
    movie.provenance.update(provenance)
    movie.tmdb_id = movie.tmdb_id or next((r.tmdb_id for _, r in records if r.tmdb_id), None)
    movie.imdb_id = movie.imdb_id or next((r.imdb_id for _, r in records if r.imdb_id), None)
    if movie.year is None and movie.release_date:
        movie.year = int(movie.release_date[:4])


def distinct_tags(tags: pd.DataFrame) -> dict[int, list[str]]:
    """Each movie's tags, one spelling per case-insensitive tag, most used first then first used.

    Example:
        >>> distinct_tags(pd.DataFrame({"movie_id": [1, 1, 1], "tag": ["dark", "Funny", "funny "]}))
        {1: ['Funny', 'dark']}
    """
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


def _review_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _review_ratings(reviews: pd.DataFrame | None) -> dict[str, float]:
    """Each rated review's rating by its text (the lowest, where one text carries several ratings)."""
    if reviews is None or reviews.empty or "rating" not in reviews.columns:
        return {}
    out: dict[str, float] = {}
    for text, rating in zip(reviews["text"].tolist(), reviews["rating"].tolist(), strict=True):
        if rating is not None and np.isfinite(rating):
            key = _review_key(text)
            out[key] = min(float(rating), out.get(key, float(rating)))
    return out


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
