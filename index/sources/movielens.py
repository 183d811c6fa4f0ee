"""MovieLens releases: the CSV releases (latest-small, 25M, 32M), 100K and the ``::``-separated 1M/10M."""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from index.errors import CatalogError
from index.sources.common import (
    MAX_RATING,
    MIN_RATING,
    FileReport,
    LoadReport,
    StrPath,
    _header,
    _normalized_keys,
    _read_table,
    _require_columns,
    _RowChecker,
    _Table,
    _timed,
)

logger = logging.getLogger(__name__)

MovieLensFormat = Literal["csv", "100k", "dat"]

_YEAR_SUFFIX = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")
_ARTICLES = "The|A|An|Les|La|Le|L'|Il|Lo|Gli|Die|Der|Das|El|Los|Las|Un|Une|Una"
_TRAILING_ARTICLE = re.compile(rf"^(?P<body>.+?),\s+(?P<article>{_ARTICLES})$")


def parse_movielens_title(raw: str) -> tuple[str, int | None]:
    """Split a MovieLens title into its natural-order title and year.

    MovieLens writes the year in parentheses at the end and moves a leading article behind a comma,
    in the main title and in any alternative title in parentheses: ``"City of Lost Children, The
    (Cité des enfants perdus, La) (1995)"``. A year range (TV series) gives its first year; a title
    without a year gives None.

    Example:
        >>> parse_movielens_title("Matrix, The (1999)")
        ('The Matrix', 1999)
        >>> parse_movielens_title("Hate (Haine, La) (1995)")
        ('Hate (La Haine)', 1995)
    """
    text = " ".join(raw.split())
    year: int | None = None
    match = _YEAR_SUFFIX.search(text)
    if match and match.start() > 0:
        year = int(match.group(1))
        text = text[: match.start()]
    main, alternates = _split_alternate_titles(text)
    parts = [_article_first(main)] + [f"({_article_first(alt)})" for alt in alternates]
    return " ".join(parts), year


def _split_alternate_titles(text: str) -> tuple[str, list[str]]:
    alternates: list[str] = []
    while text.endswith(")"):
        depth = 0
        start = -1
        for index in range(len(text) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[index], 0)
            if depth == 0:
                start = index
                break
        main = text[:start].rstrip() if start > 0 else ""
        if not main:
            break
        alternates.insert(0, text[start + 1 : -1])
        text = main
    return text, alternates


def _article_first(title: str) -> str:
    match = _TRAILING_ARTICLE.match(title.strip())
    if not match:
        return title.strip()
    article = match.group("article")
    return f"{article}{match.group('body')}" if article.endswith("'") else f"{article} {match.group('body')}"


# --------------------------------------------------------------------------- tabular reading

@dataclass
class MovieLensData:
    """One MovieLens release as DataFrames, whatever format it shipped in.

    ``ratings``: user_id, movie_id (int32), rating (float32), timestamp (int64).
    ``movies``: movie_id (int32), title (natural order), year (Int64, nullable), genres (list[str]).
    ``links``: movie_id, imdb_id (``"tt"`` + 7 digits, nullable), tmdb_id (Int64, nullable); empty for
    100K and 1M, which ship no links. ``tags``: user_id, movie_id, tag, timestamp; empty where none.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    links: pd.DataFrame
    tags: pd.DataFrame
    format: MovieLensFormat
    path: Path
    report: LoadReport


_ML_100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                   "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
                   "Thriller", "War", "Western"]
# One genre vocabulary across releases: 100K and 1M write "Children's"; "unknown" and
# "(no genres listed)" mean no genre at all.
_GENRE_RENAMES = {"Children's": "Children", "unknown": None, "(no genres listed)": None}


def movielens_format(path: StrPath) -> MovieLensFormat | None:
    """Which MovieLens release layout the folder holds, or None when it holds none.

    ``"csv"``: ratings.csv and movies.csv (latest-small, 20M, 25M, 32M). ``"100k"``: u.data and u.item.
    ``"dat"``: ratings.dat and movies.dat with ``::`` separators (1M, 10M).

    Example:
        >>> movielens_format("../shared/data/ml-latest-small")
        'csv'
    """
    folder = Path(path)
    if (folder / "ratings.csv").is_file() and (folder / "movies.csv").is_file():
        return "csv"
    if (folder / "u.data").is_file() and (folder / "u.item").is_file():
        return "100k"
    if (folder / "ratings.dat").is_file() and (folder / "movies.dat").is_file():
        return "dat"
    return None


def load_movielens(path: StrPath, *, skip_bad_rows: bool = False) -> MovieLensData:
    """Load a MovieLens release folder, detecting its format from the files it holds.

    Reads the CSV releases (ratings.csv, movies.csv, optional links.csv and tags.csv), 100K (u.data,
    u.item) and 1M/10M (ratings.dat, movies.dat, optional tags.dat). Titles come back in natural order
    with the year split off, genres as lists ("(no genres listed)" is an empty list), IMDb ids as
    ``tt0114709``. A malformed row raises `CatalogError` with file, line and field; with
    ``skip_bad_rows=True`` it is dropped and counted in ``.report``.

    Example:
        >>> data = load_movielens("../shared/data/ml-latest-small")
        >>> matrix = data.movies.set_index("movie_id").loc[2571]
        >>> matrix["title"], int(matrix["year"]), matrix["genres"]
        ('The Matrix', 1999, ['Action', 'Sci-Fi', 'Thriller'])
    """
    folder = Path(path)
    if not folder.is_dir():
        raise CatalogError(f"{folder}: not a folder; pass a MovieLens release folder such as "
                           f"ml-latest-small/ (download it from https://grouplens.org/datasets/movielens/)",
                           path=str(folder))
    fmt = movielens_format(folder)
    if fmt is None:
        have = sorted(p.name for p in folder.iterdir())[:20]
        raise CatalogError(
            f"{folder}: no MovieLens release found (it has {have}); it needs ratings.csv + movies.csv "
            f"(latest, 25M, 32M), u.data + u.item (100K) or ratings.dat + movies.dat (1M)", path=str(folder))
    report = LoadReport()
    started = time.perf_counter()
    if fmt == "csv":
        data = _load_movielens_csv(folder, report, skip_bad_rows)
    elif fmt == "100k":
        data = _load_movielens_100k(folder, report, skip_bad_rows)
    else:
        data = _load_movielens_dat(folder, report, skip_bad_rows)
    ratings, movies, links, tags = data
    logger.info("MovieLens (%s) %s: %d movies, %d ratings, %d tags, %d links in %.2fs", fmt, folder,
                len(movies), len(ratings), len(tags), len(links), time.perf_counter() - started)
    return MovieLensData(ratings, movies, links, tags, fmt, folder, report)


_Frames = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]


def _load_movielens_csv(folder: Path, report: LoadReport, skip: bool) -> _Frames:
    ratings_path = folder / "ratings.csv"
    columns = ["userId", "movieId", "rating", "timestamp"]
    _require_columns(ratings_path, _header(ratings_path), columns, "A MovieLens ratings.csv")
    ratings = _load_ratings(ratings_path, None, columns, sep=",", names=None, encoding="utf-8",
                            quoting=csv.QUOTE_MINIMAL, report=report, skip=skip)

    movies_path = folder / "movies.csv"
    encoding = _text_encoding(movies_path)
    _require_columns(movies_path, _header(movies_path, encoding=encoding), ["movieId", "title", "genres"],
                     "A MovieLens movies.csv")
    with _timed(report.file(movies_path)):
        movies = _movies_frame(_read_table(movies_path, encoding=encoding), "movieId", "title", "genres", "|",
                               report, skip)

    links_path = folder / "links.csv"
    links = _empty_links()
    if links_path.is_file():
        _require_columns(links_path, _header(links_path), ["movieId", "imdbId", "tmdbId"], "A MovieLens links.csv")
        with _timed(report.file(links_path)):
            links = _links_frame(_read_table(links_path), report, skip)

    tags_path = folder / "tags.csv"
    tags = _empty_tags()
    if tags_path.is_file():
        encoding = _text_encoding(tags_path)
        names = ["userId", "movieId", "tag", "timestamp"]
        _require_columns(tags_path, _header(tags_path, encoding=encoding), names, "A MovieLens tags.csv")
        with _timed(report.file(tags_path)):
            tags = _tags_frame(_read_table(tags_path, encoding=encoding), names, report, skip)
    return ratings, movies, links, tags


def _load_movielens_100k(folder: Path, report: LoadReport, skip: bool) -> _Frames:
    columns = ["user id", "item id", "rating", "timestamp"]
    ratings = _load_ratings(folder / "u.data", None, columns, sep="\t", names=columns, encoding="latin-1",
                            quoting=csv.QUOTE_NONE, report=report, skip=skip)
    genres = _ML_100K_GENRES
    genre_path = folder / "u.genre"
    if genre_path.is_file():
        listed = [line.split("|")[0] for line in genre_path.read_text(encoding="latin-1").splitlines() if line]
        genres = listed or genres
    names = ["movie id", "movie title", "release date", "video release date", "IMDb URL", *genres]
    with _timed(report.file(folder / "u.item")):
        table = _read_table(folder / "u.item", sep="|", names=names, encoding="latin-1", quoting=csv.QUOTE_NONE)
        checker = _RowChecker(table, report.file(table.path))
        flags = table.frame[genres]
        not_flag = ~flags.isin(["0", "1"]).to_numpy()
        for index, genre in enumerate(genres):
            checker.flag(genre, not_flag[:, index], _describe_flag(table.frame[genre]))
        is_set = flags.to_numpy() == "1"
        table.frame["genres"] = ["|".join(g for g, on in zip(genres, row, strict=True) if on) for row in is_set]
        movies = _movies_frame(table, "movie id", "movie title", "genres", "|", report, skip, checker=checker)
    return ratings, movies, _empty_links(), _empty_tags()


def _describe_flag(values: pd.Series) -> Callable[[int], str]:
    return lambda row: f"{values.iat[row]!r} is not a genre flag (0 or 1)"


def _load_movielens_dat(folder: Path, report: LoadReport, skip: bool) -> _Frames:
    columns = ["UserID", "MovieID", "Rating", "Timestamp"]
    ratings_path = folder / "ratings.dat"
    ratings = _load_ratings(ratings_path, _double_colon_source(ratings_path), columns, sep="\x1f",
                            names=columns, encoding="latin-1", quoting=csv.QUOTE_NONE, report=report, skip=skip)
    movies_path = folder / "movies.dat"
    with _timed(report.file(movies_path)):
        source = _double_colon_source(movies_path)
        table = _read_table(movies_path, source, sep="\x1f", names=["MovieID", "Title", "Genres"],
                            encoding=_bytes_encoding(source().getvalue()), quoting=csv.QUOTE_NONE)
        movies = _movies_frame(table, "MovieID", "Title", "Genres", "|", report, skip)
    tags = _empty_tags()
    tags_path = folder / "tags.dat"
    if tags_path.is_file():
        with _timed(report.file(tags_path)):
            source = _double_colon_source(tags_path)
            names = ["UserID", "MovieID", "Tag", "Timestamp"]
            table = _read_table(tags_path, source, sep="\x1f", names=names,
                                encoding=_bytes_encoding(source().getvalue()), quoting=csv.QUOTE_NONE)
            tags = _tags_frame(table, names, report, skip)
    return ratings, movies, _empty_links(), tags


def _double_colon_source(path: Path) -> Callable[[], io.BytesIO]:
    """A re-openable in-memory copy of a ``::``-separated file with one-byte separators.

    pandas only runs multi-character separators through its slow Python parser; a byte that never
    occurs in text keeps the C parser and leaves line numbers unchanged.
    """
    data = path.read_bytes().replace(b"::", b"\x1f")
    return lambda: io.BytesIO(data)


def _bytes_encoding(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _text_encoding(path: Path) -> str:
    """utf-8 as MovieLens CSVs are written, latin-1 for older exports that are not valid utf-8."""
    with open(path, "rb") as handle:
        data = handle.read(1 << 24)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 4:  # not merely a multi-byte character cut by the read limit
            logger.warning("%s is not valid utf-8; reading it as latin-1", path)
            return "latin-1"
    return "utf-8"


def _load_ratings(path: Path, source: Callable[[], Any] | None, columns: list[str], *, sep: str,
                  names: list[str] | None, encoding: str, quoting: int, report: LoadReport,
                  skip: bool) -> pd.DataFrame:
    """Ratings through the C parser with final dtypes; only a file that fails that is re-read to
    find its bad rows (first as floats, then as text if some field is not even a number)."""
    started = time.perf_counter()
    user, movie, rating, stamp = columns
    entry = report.file(path)
    # no usecols: with it pandas silently drops the extra fields of a malformed row
    kwargs: dict[str, Any] = {"sep": sep, "header": None if names else 0, "names": names, "encoding": encoding,
                              "quoting": quoting, "engine": "c"}
    try:
        frame = pd.read_csv(source() if source else path, dtype={user: "int32", movie: "int32",
                            rating: "float32", stamp: "int64"}, **kwargs)
        values = frame[rating].to_numpy()
        if frame[[user, movie]].min().min() < 1 or not ((values >= MIN_RATING) & (values <= MAX_RATING)).all():
            raise ValueError("a rating or id out of range")
        entry.rows_read += len(frame)
        frame = frame[columns].set_axis(["user_id", "movie_id", "rating", "timestamp"], axis=1)
    except (ValueError, OverflowError, pd.errors.ParserError):
        try:
            table = _read_table(path, source, sep=sep, names=names, encoding=encoding, quoting=quoting,
                                dtype=dict.fromkeys(columns, "float64"))
        except (ValueError, CatalogError):
            table = _read_table(path, source, sep=sep, names=names, encoding=encoding, quoting=quoting)
        checker = _RowChecker(table, entry)
        users, movies, stars, stamps = (checker.ids(user), checker.ids(movie), checker.ratings(rating),
                                        checker.whole_numbers(stamp))
        keep = checker.keep(skip)
        frame = pd.DataFrame({"user_id": users[keep].astype(np.int32), "movie_id": movies[keep].astype(np.int32),
                              "rating": stars[keep].astype(np.float32), "timestamp": stamps[keep].astype(np.int64)})
    frame = latest_ratings(frame, entry)
    entry.seconds += time.perf_counter() - started
    logger.info("%s: %d ratings in %.2fs", path, len(frame), time.perf_counter() - started)
    return frame


def latest_ratings(frame: pd.DataFrame, entry: FileReport | None = None) -> pd.DataFrame:
    """One rating per (user, movie): the one with the latest timestamp (the later row on a tie), counting what
    was dropped in ``entry``. A person who rated a movie twice changed their mind; keeping both would count the
    movie twice in every model.

    Example:
        >>> f = pd.DataFrame({"user_id": [1, 1, 1], "movie_id": [5, 5, 6], "rating": [2.0, 4.0, 3.0],
        ...                   "timestamp": [20, 10, 5]})
        >>> latest_ratings(f).to_dict("list")
        {'user_id': [1, 1], 'movie_id': [5, 6], 'rating': [2.0, 3.0], 'timestamp': [20, 5]}
    """
    repeated = frame.duplicated(["user_id", "movie_id"], keep=False).to_numpy()
    if not repeated.any():
        return frame
    dups = frame[repeated]
    kept = dups.sort_values("timestamp", kind="stable").drop_duplicates(["user_id", "movie_id"], keep="last")
    if entry is not None:
        entry.duplicates_dropped += len(dups) - len(kept)
        entry.duplicates_conflicting += int((dups.groupby(["user_id", "movie_id"])["rating"].nunique() > 1).sum())
        logger.warning("%s: %d repeated (user, movie) ratings dropped, keeping the latest of each",
                       entry.path, len(dups) - len(kept))
    keep = ~repeated
    keep[frame.index.get_indexer(kept.index)] = True
    return frame[keep].reset_index(drop=True)


def _movies_frame(table: _Table, id_column: str, title_column: str, genres_column: str, genre_sep: str,
                  report: LoadReport, skip: bool, *, checker: _RowChecker | None = None) -> pd.DataFrame:
    checker = checker or _RowChecker(table, report.file(table.path))
    movie_ids = checker.ids(id_column)
    titles = checker.text(title_column)
    checker.unique(id_column, movie_ids)
    keep = checker.keep(skip)
    parsed = [parse_movielens_title(raw) for raw in titles[keep]]
    frame = pd.DataFrame({
        "movie_id": movie_ids[keep].astype(np.int32),
        "title": pd.Series([title for title, _ in parsed], dtype="str"),
        "year": pd.array([year for _, year in parsed], dtype="Int64"),
        "genres": [_genre_list(raw, genre_sep) for raw in table.frame[genres_column][keep]],
    })
    return frame


def _genre_list(raw: str, sep: str) -> list[str]:
    renamed = (_GENRE_RENAMES.get(g, g) for g in (part.strip() for part in raw.split(sep)) if g)
    return [g for g in renamed if g]


def _links_frame(table: _Table, report: LoadReport, skip: bool) -> pd.DataFrame:
    checker = _RowChecker(table, report.file(table.path))
    movie_ids = checker.ids("movieId")
    raw_imdb = table.frame["imdbId"].str.strip()
    imdb = _normalized_keys(raw_imdb, "imdbId")
    checker.flag("imdbId", ((raw_imdb != "") & imdb.isna()).to_numpy(),
                 lambda row: f"{raw_imdb.iat[row]!r} is not an IMDb id (digits, e.g. 0114709)")
    tmdb = checker.ids("tmdbId", optional=True)
    checker.unique("movieId", movie_ids)
    keep = checker.keep(skip)
    return pd.DataFrame({
        "movie_id": movie_ids[keep].astype(np.int32),
        "imdb_id": imdb[keep].reset_index(drop=True),
        "tmdb_id": pd.Series(tmdb[keep]).astype("Int64"),
    })


def _tags_frame(table: _Table, names: list[str], report: LoadReport, skip: bool) -> pd.DataFrame:
    user, movie, tag, stamp = names
    checker = _RowChecker(table, report.file(table.path))
    users, movies, stamps = checker.ids(user), checker.ids(movie), checker.whole_numbers(stamp)
    keep = checker.keep(skip)
    tags = table.frame[tag].str.strip()
    # a few releases hold empty tags: not malformed, but nothing to keep either
    keep &= (tags != "").to_numpy()
    return pd.DataFrame({"user_id": users[keep].astype(np.int32), "movie_id": movies[keep].astype(np.int32),
                         "tag": tags[keep].reset_index(drop=True), "timestamp": stamps[keep].astype(np.int64)})


def _empty_links() -> pd.DataFrame:
    return pd.DataFrame({"movie_id": pd.Series(dtype=np.int32), "imdb_id": pd.Series(dtype="str"),
                         "tmdb_id": pd.Series(dtype="Int64")})


def _empty_tags() -> pd.DataFrame:
    return pd.DataFrame({"user_id": pd.Series(dtype=np.int32), "movie_id": pd.Series(dtype=np.int32),
                         "tag": pd.Series(dtype="str"), "timestamp": pd.Series(dtype=np.int64)})
