"""Loaders for every source cinefuse reads: MovieLens releases, TMDB API dumps, The Movies Dataset,
review CSVs and poster folders.

Each loader validates as it reads. A bad row raises `CatalogError` naming the file, the 1-based line
(the header is line 1) and the field; with ``skip_bad_rows=True`` bad rows are dropped instead and
counted in a `LoadReport`. Large numeric files go through pandas' C parser first and are only re-read
more slowly, to find the exact line, when that strict fast read fails.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import logging
import math
import re
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from index.errors import CatalogError

logger = logging.getLogger(__name__)

StrPath = str | PathLike[str]
KeyType = Literal["movieId", "imdbId", "tmdbId"]
MovieLensFormat = Literal["csv", "100k", "dat"]

MAX_PROBLEMS_KEPT = 5
SKIP_HINT = "fix or delete the row, or pass --skip-bad-rows (skip_bad_rows=True) to drop bad rows and count them"
TMDB_IMAGE_BASE = "https://image.tmdb.org/t/p/w500"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
_INT32_MAX = 2**31 - 1
MIN_RATING, MAX_RATING = 0.5, 5.0

_T = TypeVar("_T")


# --------------------------------------------------------------------------- reports


@dataclass
class FileReport:
    """What loading one file found: data rows read, rows skipped as bad, and the first few problems."""

    path: str
    rows_read: int = 0
    rows_skipped: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    duplicates_dropped: int = 0  # repeated (user, movie) ratings; the latest one is kept
    duplicates_conflicting: int = 0  # of those pairs, how many had different ratings

    def add_problem(self, text: str) -> None:
        """Count one skipped row, keeping its description while fewer than `MAX_PROBLEMS_KEPT` are kept."""
        self.rows_skipped += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(text)


@dataclass
class LoadReport:
    """Per-file counts of rows read and skipped while loading one or more sources.

    Example:
        >>> report = LoadReport()
        >>> report.file("ratings.csv").add_problem("line 3, field 'rating': 'x' is not a number")
        >>> report.rows_skipped, report["ratings.csv"].problems
        (1, ["line 3, field 'rating': 'x' is not a number"])
    """

    files: dict[str, FileReport] = field(default_factory=dict)

    def file(self, path: StrPath) -> FileReport:
        """The entry for `path`, created empty on first use."""
        key = str(path)
        if key not in self.files:
            self.files[key] = FileReport(key)
        return self.files[key]

    def __getitem__(self, name: str) -> FileReport:
        """The entry for a full path, or for a bare file name when exactly one entry has that name."""
        if name in self.files:
            return self.files[name]
        matches = [entry for key, entry in self.files.items() if Path(key).name == name]
        if len(matches) != 1:
            raise KeyError(f"{name!r}: {len(matches)} matching entries; have {sorted(self.files)}")
        return matches[0]

    @property
    def rows_read(self) -> int:
        """Data rows read over all files."""
        return sum(entry.rows_read for entry in self.files.values())

    @property
    def rows_skipped(self) -> int:
        """Bad rows dropped over all files."""
        return sum(entry.rows_skipped for entry in self.files.values())

    def merge(self, other: LoadReport) -> None:
        """Add `other`'s entries to this report (an entry for the same path is replaced)."""
        self.files.update(other.files)

    def summary(self) -> str:
        """One line per file: rows read and skipped, and the first problem when any."""
        lines = []
        for entry in self.files.values():
            text = f"{entry.path}: {entry.rows_read:,} rows read, {entry.rows_skipped:,} skipped"
            if entry.duplicates_dropped:
                text += (f", {entry.duplicates_dropped:,} repeated (user, movie) ratings dropped keeping the latest "
                         f"({entry.duplicates_conflicting:,} pairs had different ratings)")
            if entry.problems:
                text += f" (first: {entry.problems[0]})"
            lines.append(text)
        return "\n".join(lines)


# --------------------------------------------------------------------------- ids and titles

_IMDB_ID = re.compile(r"^(?:tt)?(\d{1,10})(?:\.0+)?$", re.IGNORECASE)
_YEAR_SUFFIX = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")
_ARTICLES = "The|A|An|Les|La|Le|L'|Il|Lo|Gli|Die|Der|Das|El|Los|Las|Un|Une|Una"
_TRAILING_ARTICLE = re.compile(rf"^(?P<body>.+?),\s+(?P<article>{_ARTICLES})$")


def normalize_imdb_id(value: object) -> str | None:
    """An IMDb id as ``"tt"`` plus at least 7 digits, from the spellings sources use, or None.

    MovieLens links write ``114709`` or ``0114709``, TMDB and review files ``tt0114709``, and some CSVs
    round-trip it through a float (``114709.0``). Anything else, and zero, gives None.

    Example:
        >>> normalize_imdb_id("114709"), normalize_imdb_id("tt0114709"), normalize_imdb_id("n/a")
        ('tt0114709', 'tt0114709', None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer() or value <= 0:
            return None
        value = int(value)
    if isinstance(value, int):
        return f"tt{value:07d}" if value > 0 else None
    match = _IMDB_ID.match(str(value).strip())
    if not match or int(match.group(1)) == 0:
        return None
    return f"tt{int(match.group(1)):07d}"


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
class _Table:
    """A file read by pandas, with each row's line number; `rejected` rows had the wrong field count."""

    path: Path
    frame: pd.DataFrame
    lines: np.ndarray  # record number of each row; equals the line unless fields hold newlines
    rejected: list[tuple[int, str]]
    multiline: bool = False
    encoding: str = "utf-8"
    _physical: np.ndarray | None = None

    def line(self, record: int) -> int:
        """The physical line where record number `record` starts (quoted newlines shift them apart)."""
        if not self.multiline:
            return record
        if self._physical is None:
            self._physical = _record_start_lines(self.path, self.encoding)
        return int(self._physical[record - 1]) if record - 1 < len(self._physical) else record


_SKIPPED_LINE = re.compile(r"Skipping line (\d+): ([^\n]*)")


def _read_table(path: Path, source: Callable[[], Any] | None = None, *, sep: str = ",",
                names: list[str] | None = None, encoding: str = "utf-8",
                quoting: int = csv.QUOTE_MINIMAL, dtype: Any = str, usecols: list[str] | None = None,
                multiline: bool = False) -> _Table:
    """Read every row pandas can split; rows with too many fields are rejected with their line."""
    as_text = dtype is str
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(
                source() if source else path, sep=sep, header=None if names else 0, names=names,
                dtype=dtype, usecols=usecols, na_filter=not as_text, keep_default_na=False,
                na_values=[""], skip_blank_lines=False, on_bad_lines="warn", quoting=quoting,
                encoding=encoding, engine="c")
        except UnicodeDecodeError as exc:
            raise CatalogError(f"{path}: not {encoding} text ({exc}); re-save it as {encoding}",
                               path=str(path)) from exc
        except pd.errors.EmptyDataError as exc:
            raise CatalogError(f"{path}: the file is empty; it needs a header and rows",
                               path=str(path), line=1) from exc
        except pd.errors.ParserError as exc:
            raise CatalogError(f"{path}: cannot be parsed as delimited text ({exc})", path=str(path)) from exc
    rejected: list[tuple[int, str]] = []
    for warning in caught:
        if issubclass(warning.category, pd.errors.ParserWarning):
            rejected += [(int(m.group(1)), m.group(2)) for m in _SKIPPED_LINE.finditer(str(warning.message))]
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    first = 1 if names else 2
    lines = np.arange(first, first + len(frame) + len(rejected))
    if rejected:
        kept = np.ones(len(lines), dtype=bool)
        kept[[line - first for line, _ in rejected]] = False
        lines = lines[kept]
    blank = (frame == "").all(axis=1) if as_text else frame.isna().all(axis=1)
    if blank.any():
        frame, lines = frame.loc[~blank.to_numpy()].reset_index(drop=True), lines[~blank.to_numpy()]
    if as_text:
        frame = frame.fillna("")
    return _Table(path, frame, lines, rejected, multiline=multiline, encoding=encoding)


def _record_start_lines(path: Path, encoding: str) -> np.ndarray:
    """The physical line each CSV record (header included) starts on."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    starts: list[int] = []
    with _open_text(path, encoding) as handle:
        reader = csv.reader(handle)
        previous = 0
        for _ in reader:
            starts.append(previous + 1)
            previous = reader.line_num
    return np.asarray(starts, dtype=np.int64)


def _open_text(path: Path, encoding: str) -> IO[str]:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, errors="replace", newline="")
    return open(path, encoding=encoding, errors="replace", newline="")


_NUMBER = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"


def _to_float(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from a column read as text or float: (values with NaN where not a number, empty mask)."""
    if values.dtype.kind == "f":
        as_float = values.to_numpy(dtype=np.float64)
        return as_float, np.isnan(as_float)
    # pyarrow's regex and cast run in C++, several times faster than pd.to_numeric on strings
    arrow = pa.array(values.astype("str").array)
    valid = pc.match_substring_regex(arrow, _NUMBER)
    cleaned = pc.if_else(valid, pc.utf8_trim_whitespace(arrow), pa.scalar(None, arrow.type))
    numbers = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(numbers, dtype=np.float64), values.eq("").to_numpy(dtype=bool)


class _RowChecker:
    """Vectorised validation of one table: collect bad-row masks per field, then raise or drop them."""

    def __init__(self, table: _Table, report: FileReport) -> None:
        self.table = table
        self.report = report
        self._checks: list[tuple[str, np.ndarray, Callable[[int], str]]] = []

    def _raw(self, column: str, row: int) -> str:
        value = self.table.frame[column].iat[row]
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:g}"
        return str(value)

    def flag(self, column: str, mask: np.ndarray, describe: Callable[[int], str]) -> None:
        """Mark rows where `mask` is true as bad in `column`; `describe(row)` says what is wrong."""
        if mask.any():
            self._checks.append((column, mask, describe))

    def _numbers(self, column: str, *, whole: bool, low: float | None, high: float | None,
                 optional: bool, what: str) -> np.ndarray:
        values, empty = _to_float(self.table.frame[column])
        bad = np.isnan(values)
        if optional:
            bad &= ~empty
        with np.errstate(invalid="ignore"):
            if whole:
                bad |= ~np.isnan(values) & (values % 1 != 0)
            if low is not None:
                bad |= values < low
            if high is not None:
                bad |= values > high

        def describe(row: int) -> str:
            raw = self._raw(column, row)
            return f"empty; {what} is required" if raw.strip() == "" else f"{raw!r} is not {what}"

        self.flag(column, bad, describe)
        return values

    def ids(self, column: str, *, optional: bool = False) -> np.ndarray:
        """A positive whole-number id column (fits int32) as float64, NaN where empty or bad."""
        return self._numbers(column, whole=True, low=1, high=_INT32_MAX, optional=optional,
                             what="a positive whole-number id")

    def whole_numbers(self, column: str) -> np.ndarray:
        """A required whole-number column (timestamps) as float64."""
        return self._numbers(column, whole=True, low=None, high=None, optional=False, what="a whole number")

    def ratings(self, column: str) -> np.ndarray:
        """A required rating column on MovieLens' scale, 0.5 to 5 stars, as float64."""
        return self._numbers(column, whole=False, low=MIN_RATING, high=MAX_RATING, optional=False,
                             what=f"a rating between {MIN_RATING:g} and {MAX_RATING:g}")

    def text(self, column: str) -> pd.Series:
        """A required, non-empty text column, stripped."""
        values = self.table.frame[column].str.strip()
        self.flag(column, (values == "").to_numpy(), lambda row: "empty; a value is required")
        return values

    def unique(self, column: str, values: np.ndarray) -> None:
        """Flag rows whose value repeats an earlier row's (ignoring rows already bad)."""
        usable = ~np.isnan(values) & ~self._bad_mask()
        series = pd.Series(values[usable], index=np.flatnonzero(usable))
        repeated = series.duplicated(keep="first")
        if repeated.any():
            first_rows = pd.Series(series[~repeated].index, index=series[~repeated].to_numpy())

            def describe(row: int) -> str:
                first_line = self.table.line(int(self.table.lines[first_rows[values[row]]]))
                return f"{self._raw(column, row)!r} repeats the {column} at line {first_line}"

            mask = np.zeros(len(values), dtype=bool)
            mask[repeated[repeated].index] = True
            self.flag(column, mask, describe)

    def _bad_mask(self) -> np.ndarray:
        bad = np.zeros(len(self.table.frame), dtype=bool)
        for _, mask, _ in self._checks:
            bad |= mask
        return bad

    def keep(self, skip_bad_rows: bool) -> np.ndarray:
        """The mask of good rows; raises `CatalogError` on the first bad row unless `skip_bad_rows`."""
        table, report = self.table, self.report
        bad = self._bad_mask()
        bad_rows = np.flatnonzero(bad)
        report.rows_read += len(table.frame) + len(table.rejected)
        if not len(bad_rows) and not table.rejected:
            return ~bad
        shown: list[tuple[int, str | None, str]] = [
            (table.line(line), None, problem) for line, problem in table.rejected[:MAX_PROBLEMS_KEPT]]
        for row in bad_rows[:MAX_PROBLEMS_KEPT]:
            bad_column, _, describe = next(check for check in self._checks if check[1][row])
            shown.append((table.line(int(table.lines[row])), bad_column, describe(int(row))))
        shown.sort(key=lambda item: item[0])
        if not skip_bad_rows:
            line, column, problem = shown[0]
            raise CatalogError(f"{table.path}, {_where(line, column)}: {problem}; {SKIP_HINT}",
                               path=str(table.path), line=line, field=column)
        skipped = len(bad_rows) + len(table.rejected)
        report.rows_skipped += skipped
        room = MAX_PROBLEMS_KEPT - len(report.problems)
        report.problems += [f"{_where(line, column)}: {problem}" for line, column, problem in shown[:room]]
        logger.warning("%s: skipped %d bad row(s); first: %s", table.path, skipped,
                       f"{_where(shown[0][0], shown[0][1])}: {shown[0][2]}")
        return ~bad


def _where(line: int, column: str | None) -> str:
    return f"line {line}, field '{column}'" if column else f"line {line}"


def _require_columns(path: Path, columns: Iterable[str], needed: list[str], what: str) -> None:
    have = list(columns)
    missing = [name for name in needed if name not in have]
    if missing:
        raise CatalogError(
            f"{path}, line 1 (header): missing column(s) {missing}; it has {have}. {what} needs the columns "
            f"{needed}", path=str(path), line=1, field=missing[0])


def _header(path: Path, sep: str = ",", encoding: str = "utf-8") -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0, encoding=encoding).columns]
    except pd.errors.EmptyDataError as exc:
        raise CatalogError(f"{path}: the file is empty; it needs a header and rows", path=str(path),
                           line=1) from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: the header is not {encoding} text; re-save the file as {encoding}",
                           path=str(path), line=1) from exc


# --------------------------------------------------------------------------- MovieLens


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


@contextmanager
def _timed(entry: FileReport) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        entry.seconds += time.perf_counter() - started


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


# --------------------------------------------------------------------------- TMDB


@dataclass
class TmdbRecord:
    """The fields cinefuse uses from one TMDB movie, from the API or from The Movies Dataset.

    Example:
        >>> TmdbRecord(tmdb_id=862, title="Toy Story", directors=["John Lasseter"]).directors
        ['John Lasseter']
    """

    tmdb_id: int
    imdb_id: str | None = None
    title: str = ""
    overview: str | None = None
    tagline: str | None = None
    genres: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    cast: list[str] = field(default_factory=list)  # top 10 by billing order
    directors: list[str] = field(default_factory=list)
    poster_path: str | None = None
    popularity: float | None = None
    vote_average: float | None = None
    vote_count: int | None = None
    release_date: str | None = None  # ISO yyyy-mm-dd
    reviews: list[str] = field(default_factory=list)


_PLACEHOLDER_TEXT = frozenset({"", "no overview found.", "no overview", "no overview yet.", "n/a", "nan", "none"})
CAST_KEPT = 10


def load_tmdb_jsonl(path: StrPath, *, skip_bad_rows: bool = False,
                    report: LoadReport | None = None) -> dict[int, TmdbRecord]:
    """Load TMDB API v3 movie objects, one JSON object per line, gzipped or plain, keyed by TMDB id.

    Reads the objects ``/movie/{id}?append_to_response=keywords,credits,reviews`` returns: genres,
    keywords (a list, or ``{"keywords": [...]}``, or the ``{"results": [...]}`` of TV-style responses),
    the top 10 cast by billing order, directors from the crew, and review texts. A line that is not a
    JSON object with an integer ``id`` raises `CatalogError` naming file and line, or with
    ``skip_bad_rows=True`` is skipped and counted in `report`.

    Example:
        >>> records = load_tmdb_jsonl("../shared/data/tmdb/tmdb_api_movies.jsonl.gz")
        >>> records[862].title, records[862].directors
        ('Toy Story', ['John Lasseter'])
    """
    source = Path(path)
    _require_file(source, "a TMDB JSON-lines file (one /movie/{id} response per line)")
    entry = (report or LoadReport()).file(source)
    started = time.perf_counter()
    records: dict[int, TmdbRecord] = {}
    number = 0
    with _open_text(source, "utf-8") as handle, _truncation(source, entry, skip_bad_rows, lambda: number):
        for number, line in enumerate(_progress(handle, source, "TMDB movies"), start=1):  # noqa: B007
            if not line.strip():
                continue
            entry.rows_read += 1
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                _bad_row(entry, source, number, None, f"not valid JSON ({exc.msg} at column {exc.colno})",
                         skip_bad_rows)
                continue
            if not isinstance(obj, dict):
                _bad_row(entry, source, number, None, f"a JSON {type(obj).__name__}, not a movie object",
                         skip_bad_rows)
                continue
            tmdb_id = obj.get("id")
            if isinstance(tmdb_id, bool) or not isinstance(tmdb_id, int) or tmdb_id <= 0:
                problem = "missing" if tmdb_id is None else f"{tmdb_id!r} is not a TMDB id (a positive integer)"
                _bad_row(entry, source, number, "id", problem, skip_bad_rows)
                continue
            records.setdefault(tmdb_id, _tmdb_record_from_api(tmdb_id, obj))
    entry.seconds = time.perf_counter() - started
    logger.info("%s: %d TMDB movies in %.2fs", source, len(records), entry.seconds)
    return records


def _tmdb_record_from_api(tmdb_id: int, obj: dict[str, Any]) -> TmdbRecord:
    credits = obj["credits"] if isinstance(obj.get("credits"), dict) else {}
    cast = [c for c in _dicts(credits.get("cast")) if c.get("name")]
    cast.sort(key=lambda c: c["order"] if isinstance(c.get("order"), int) else sys.maxsize)
    directors = _unique(str(c["name"]) for c in _dicts(credits.get("crew"))
                        if c.get("job") == "Director" and c.get("name"))
    return TmdbRecord(
        tmdb_id=tmdb_id,
        imdb_id=normalize_imdb_id(obj.get("imdb_id")),
        title=str(obj.get("title") or obj.get("name") or ""),
        overview=_clean_text(obj.get("overview")),
        tagline=_clean_text(obj.get("tagline")),
        genres=_names(obj.get("genres")),
        keywords=_names(_unwrap(obj.get("keywords"), "keywords")),
        cast=_unique(str(c["name"]) for c in cast)[:CAST_KEPT],
        directors=directors,
        poster_path=_clean_text(obj.get("poster_path")),
        popularity=_number(obj.get("popularity")),
        vote_average=_number(obj.get("vote_average")),
        vote_count=_whole(obj.get("vote_count")),
        release_date=_iso_date(obj.get("release_date")),
        reviews=_unique(text for text in (
            _clean_text(r.get("content") if isinstance(r, dict) else r)
            for r in _unwrap(obj.get("reviews"), "results") or []) if text),
    )


def _unwrap(value: Any, key: str) -> list[Any]:
    """A list given bare, or wrapped as ``{key: [...]}`` or TV-style ``{"results": [...]}``."""
    if isinstance(value, dict):
        value = value.get(key, value.get("results"))
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _names(value: Any) -> list[str]:
    return _unique(str(item["name"]).strip() for item in _dicts(value) if str(item.get("name") or "").strip())


def _unique(values: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(values))


def _clean_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if text.lower() in _PLACEHOLDER_TEXT else text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def _iso_date(value: Any) -> str | None:
    """``yyyy-mm-dd`` from ISO text or the ``m/d/yyyy`` a spreadsheet round trip leaves behind."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if match := _ISO_DATE.match(text):
        return match.group(0)
    if match := _US_DATE.match(text):
        month, day, year = (int(g) for g in match.groups())
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}"
    return None


def load_movies_metadata(path: StrPath, *, skip_bad_rows: bool = False,
                         report: LoadReport | None = None) -> dict[int, TmdbRecord]:
    """Load The Movies Dataset's ``movies_metadata.csv`` as it really ships, keyed by TMDB id.

    Copes with its quirks: ids written as floats (``862.0``), genres as Python-literal lists,
    spreadsheet-mangled dates (``10/30/1995``), empty or placeholder overviews ("No overview found."),
    non-numeric popularity (kept as None). A row whose ``id`` is not a whole number (the real file has
    three rows shifted so a date lands there) raises `CatalogError` naming the line and field ``id``,
    or with ``skip_bad_rows=True`` is skipped and counted in `report`. Repeated ids keep the first row.
    The file holds no keywords, cast or reviews (those ship in keywords.csv and credits.csv).

    Example:
        >>> records = load_movies_metadata("../shared/data/tmdb/movies_metadata.csv")
        >>> records[862].genres
        ['Animation', 'Comedy', 'Family']
    """
    source = Path(path)
    _require_file(source, "The Movies Dataset's movies_metadata.csv")
    entry = (report or LoadReport()).file(source)
    started = time.perf_counter()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    records: dict[int, TmdbRecord] = {}
    repeated = 0
    with _open_text(source, "utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise CatalogError(f"{source}: the file is empty; it needs a header and rows", path=str(source), line=1)
        _require_columns(source, header, ["id", "title", "overview"], "movies_metadata.csv")
        position = {name: index for index, name in enumerate(header)}
        line = reader.line_num + 1
        for row in _progress(reader, source, "movies_metadata rows"):
            number, line = line, reader.line_num + 1
            if not row:
                continue
            entry.rows_read += 1
            if len(row) != len(header):
                _bad_row(entry, source, number, None, f"expected {len(header)} fields, saw {len(row)}",
                         skip_bad_rows)
                continue
            raw_id = row[position["id"]].strip()
            tmdb_id = _whole(raw_id)
            if tmdb_id is None or tmdb_id <= 0:
                _bad_row(entry, source, number, "id", f"{raw_id!r} is not a TMDB id (a whole number like 862.0)",
                         skip_bad_rows)
                continue
            if tmdb_id in records:
                repeated += 1
                continue
            value = {name: row[index] for name, index in position.items()}
            records[tmdb_id] = TmdbRecord(
                tmdb_id=tmdb_id,
                imdb_id=normalize_imdb_id(value.get("imdb_id")),
                title=(value.get("title") or value.get("original_title") or "").strip(),
                overview=_clean_text(value.get("overview")),
                tagline=_clean_text(value.get("tagline")),
                genres=_names(_literal(value.get("genres"))),
                keywords=_names(_unwrap(_literal(value.get("keywords")), "keywords")),
                poster_path=_clean_text(value.get("poster_path")),
                popularity=_number(value.get("popularity")),
                vote_average=_number(value.get("vote_average")),
                vote_count=_whole(value.get("vote_count")),
                release_date=_iso_date(value.get("release_date")),
            )
    entry.seconds = time.perf_counter() - started
    if repeated:
        logger.info("%s: %d repeated id(s) ignored, the first row of each kept", source, repeated)
    logger.info("%s: %d movies in %.2fs", source, len(records), entry.seconds)
    return records


def _literal(text: str | None) -> Any:
    if not text or not text.strip():
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _bad_row(entry: FileReport, path: Path, line: int, column: str | None, problem: str, skip: bool) -> None:
    if not skip:
        raise CatalogError(f"{path}, {_where(line, column)}: {problem}; {SKIP_HINT}", path=str(path), line=line,
                           field=column)
    entry.add_problem(f"{_where(line, column)}: {problem}")


@contextmanager
def _truncation(path: Path, entry: FileReport, skip: bool, lines_read: Callable[[], int]) -> Iterator[None]:
    """A compressed file that ends early (a cut download) or is corrupt: an error naming the file and the last
    whole line, or with ``skip`` the rows read so far are kept and the problem counted."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        problem = (f"{path}: the compressed file ends early or is damaged after line {lines_read():,} ({exc}); "
                   "download it again")
        if not skip:
            raise CatalogError(problem + ", or pass --skip-bad-rows to keep the rows before that point",
                               path=str(path), line=lines_read() + 1) from None
        entry.add_problem(problem)


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise CatalogError(f"{path}: not found; expected {what}", path=str(path))


def _progress(items: Iterable[_T], path: Path, unit: str) -> Iterator[_T]:
    """Iterate with a progress bar that appears only if the step is still running after a second."""
    yield from tqdm(items, desc=path.name, unit=f" {unit}", delay=1.0, leave=False)


# --------------------------------------------------------------------------- reviews

_ID_COLUMN_NAMES: dict[KeyType, tuple[str, ...]] = {
    "movieId": ("movieid", "movie_id", "movielens_id", "ml_id"),
    "imdbId": ("imdbid", "imdb_id", "imdb", "tconst"),
    "tmdbId": ("tmdbid", "tmdb_id", "tmdb"),
}
_TEXT_COLUMN_NAMES = ("text", "review", "content", "review_text", "body")
_RATING_COLUMN_NAMES = ("rating", "score", "stars")
_LOCATION_COLUMN_NAMES = ("file", "path", "filename", "poster", "poster_file", "poster_url", "url", "image",
                          "image_url", "poster_path")


def _find_column(columns: list[str], candidates: Iterable[str]) -> str | None:
    by_folded = {c.strip().lower().replace("-", "_").replace(" ", "_"): c for c in columns}
    for candidate in candidates:
        if candidate in by_folded:
            return by_folded[candidate]
    return None


def _key_type_of(column: str) -> KeyType | None:
    folded = column.strip().lower().replace("-", "_").replace(" ", "_")
    for key_type, names in _ID_COLUMN_NAMES.items():
        if folded in names:
            return key_type
    return None


def _find_id_column(columns: list[str]) -> tuple[str, KeyType] | None:
    for key_type, names in _ID_COLUMN_NAMES.items():
        column = _find_column(columns, names)
        if column is not None:
            return column, key_type
    return None


def _normalized_keys(values: pd.Series, key_type: KeyType) -> pd.Series:
    """Keys as strings (``"1"``, ``"tt0114709"``, ``"862"``), NA where a value is not a valid id."""
    text = values.astype("str").str.strip()
    if key_type == "imdbId":
        digits = text.str.extract(r"^(?:[tT][tT])?(\d{1,10})(?:\.0+)?$", expand=False)
        numbers = pd.to_numeric(digits, errors="coerce")
        ok = numbers.notna() & (numbers > 0)
        result = pd.Series(pd.NA, index=values.index, dtype="str")
        result[ok] = "tt" + numbers[ok].astype("int64").astype("str").str.zfill(7)
        return result
    numbers = pd.to_numeric(text.where(text.str.fullmatch(r"\d+(?:\.0+)?"), None), errors="coerce")
    ok = numbers.notna() & (numbers > 0)
    result = pd.Series(pd.NA, index=values.index, dtype="str")
    result[ok] = numbers[ok].astype("int64").astype("str")
    return result


# Windows-1252 punctuation that a latin-1 decode left as C1 control characters (common in IMDb dumps)
_CP1252_REPAIR = {chr(code): bytes([code]).decode("cp1252") for code in range(0x80, 0xA0)
                  if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
_C1_CHARACTER = re.compile("[\x80-\x9f]")


def _repair_c1(match: re.Match[str]) -> str:
    return _CP1252_REPAIR.get(match.group(0), match.group(0))


def clean_review_text(texts: pd.Series) -> pd.Series:
    r"""Review texts with HTML line breaks as newlines, mis-decoded Windows-1252 punctuation repaired,
    and surrounding space stripped.

    Example:
        >>> clean_review_text(pd.Series(["Great.<br /><br />Really\x96 great\x85 "])).tolist()
        ['Great.\n\nReally– great…']
    """
    cleaned = texts.astype("str")
    # both fixes touch a minority of rows; applying them only there keeps a 64 MB file under a second
    has_break = cleaned.str.contains(r"<[bB][rR]", regex=True).to_numpy(dtype=bool)
    cleaned[has_break] = cleaned[has_break].str.replace(r"<[bB][rR]\s*/?>", "\n", regex=True)
    has_c1 = cleaned.str.contains("[\x80-\x9f]", regex=True).to_numpy(dtype=bool)
    cleaned[has_c1] = [_C1_CHARACTER.sub(_repair_c1, text) for text in cleaned[has_c1]]
    return cleaned.str.strip()


def load_reviews(path: StrPath, id_column: str | None = None, text_column: str | None = None, *,
                 key_type: KeyType | None = None, skip_bad_rows: bool = False,
                 report: LoadReport | None = None) -> pd.DataFrame:
    """Load a CSV of movie reviews into columns key_type, key, text and rating.

    The id column is found among movieId, imdbId and tmdbId (any case, snake_case too) and the text
    column among text, review and content, unless named; ``key_type`` says what a differently named id
    column holds. Keys are normalised (IMDb ids to ``tt`` + 7 digits); texts are cleaned by
    `clean_review_text`; rating is a float, NaN where absent; rows with empty text are dropped. A file
    without usable columns raises `CatalogError` listing the columns it has; a row with a bad id raises
    naming its line, or is skipped and counted.

    Example:
        >>> reviews = load_reviews("../shared/data/reviews/reviews.csv")
        >>> reviews.columns.tolist(), reviews.loc[0, "key_type"]
        (['key_type', 'key', 'text', 'rating'], 'imdbId')
    """
    source = Path(path)
    _require_file(source, "a CSV of reviews with an id column and a text column")
    started = time.perf_counter()
    columns = _header(source)
    if id_column is None:
        found = _find_id_column(columns)
        if found is None:
            raise CatalogError(
                f"{source}: no id column; it has {columns} and needs one of movieId, imdbId or tmdbId "
                f"(or pass id_column= and key_type=)", path=str(source), line=1)
        id_column, detected = found
        key_type = key_type or detected
    else:
        _require_columns(source, columns, [id_column], "A reviews file")
        key_type = key_type or _key_type_of(id_column)
        if key_type is None:
            raise CatalogError(f"{source}: cannot tell what id column {id_column!r} holds; pass key_type= "
                               f"('movieId', 'imdbId' or 'tmdbId')", path=str(source), line=1, field=id_column)
    if text_column is None:
        text_column = _find_column(columns, _TEXT_COLUMN_NAMES)
        if text_column is None:
            raise CatalogError(f"{source}: no review text column; it has {columns} and needs one named text, "
                               f"review or content (or pass text_column=)", path=str(source), line=1)
    else:
        _require_columns(source, columns, [text_column], "A reviews file")
    rating_column = _find_column(columns, _RATING_COLUMN_NAMES)
    usecols = _unique(c for c in (id_column, text_column, rating_column) if c)
    table = _read_table(source, usecols=usecols, multiline=True)
    entry = (report or LoadReport()).file(source)
    checker = _RowChecker(table, entry)
    keys = _normalized_keys(table.frame[id_column], key_type)
    raw_ids = table.frame[id_column]
    checker.flag(id_column, keys.isna().to_numpy(), lambda row: (
        f"{raw_ids.iat[row]!r} is not {'an IMDb id like tt0114709' if key_type == 'imdbId' else 'an id'}"))
    keep = checker.keep(skip_bad_rows)
    texts = clean_review_text(table.frame[text_column])
    keep &= (texts != "").to_numpy()
    ratings = (pd.to_numeric(table.frame[rating_column], errors="coerce").astype("float64")
               if rating_column else pd.Series(np.nan, index=table.frame.index))
    frame = pd.DataFrame({"key_type": key_type, "key": keys[keep], "text": texts[keep],
                          "rating": ratings[keep]}).reset_index(drop=True)
    frame["key_type"] = frame["key_type"].astype("str")
    entry.seconds = time.perf_counter() - started
    logger.info("%s: %d reviews of %d %s keys in %.2fs", source, len(frame), frame["key"].nunique(), key_type,
                entry.seconds)
    return frame


# --------------------------------------------------------------------------- posters


@dataclass
class PosterSource(Mapping[tuple[str, str], str]):
    """Poster locations keyed by ``(key_type, key)``: a local file path or a URL.

    Keys are normalised as in `load_reviews`: ``("movieId", "1")``, ``("imdbId", "tt0114709")``,
    ``("tmdbId", "862")``.

    Example:
        >>> posters = PosterSource({("movieId", "1"): "/data/posters/1.jpg"})
        >>> posters.lookup(movie_id=1, imdb_id="tt0114709")
        '/data/posters/1.jpg'
    """

    locations: dict[tuple[str, str], str] = field(default_factory=dict)
    origin: str = ""

    def __getitem__(self, key: tuple[str, str]) -> str:
        return self.locations[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.locations)

    def __len__(self) -> int:
        return len(self.locations)

    def lookup(self, movie_id: int | None = None, imdb_id: str | None = None,
               tmdb_id: int | None = None) -> str | None:
        """The poster for a movie by movieId, else IMDb id, else TMDB id; None when there is none."""
        for key in (("movieId", str(movie_id)) if movie_id is not None else None,
                    ("imdbId", imdb_id) if imdb_id else None,
                    ("tmdbId", str(tmdb_id)) if tmdb_id is not None else None):
            if key is not None and key in self.locations:
                return self.locations[key]
        return None


_POSTER_NAME_PATTERNS: list[tuple[KeyType, re.Pattern[str]]] = [
    ("movieId", re.compile(r"^(\d+)$")),
    ("tmdbId", re.compile(r"^tmdb[_-]?(\d+)$", re.IGNORECASE)),
    ("imdbId", re.compile(r"^(tt\d+)$", re.IGNORECASE)),
]
POSTER_INDEX_NAMES = ("posters_index.csv", "index.csv")


def load_posters(source: StrPath, *, id_column: str | None = None, location_column: str | None = None,
                 key_type: KeyType | None = None, skip_bad_rows: bool = False,
                 report: LoadReport | None = None) -> PosterSource:
    """Find poster images in a folder, or poster locations in a CSV, keyed by movie id.

    A folder with a ``posters_index.csv`` (columns file plus movieId, imdbId and/or tmdbId) is read
    through that index; otherwise image files are matched by name: ``123.jpg`` is movieId 123,
    ``tmdb862.jpg`` TMDB id 862, ``tt0114709.jpg`` an IMDb id (other names are ignored with a warning).
    A CSV maps an id column (movieId/imdbId/tmdbId, or ``id`` holding movieIds unless `key_type` says
    otherwise) to a location column: a URL, a path relative to the CSV, or a TMDB ``poster_path``.
    An index row naming a missing file raises `CatalogError` with its line, or is skipped and counted.

    Example:
        >>> posters = load_posters("../shared/data/posters")
        >>> posters.lookup(movie_id=1).endswith("images/1.jpg")
        True
    """
    path = Path(source)
    report = report if report is not None else LoadReport()
    if path.is_dir():
        target = next((path / name for name in POSTER_INDEX_NAMES if (path / name).is_file()), path)
    elif path.is_file():
        target = path
    else:
        raise CatalogError(f"{path}: not found; expected a folder of poster images or a CSV of poster URLs",
                           path=str(path))
    entry = report.file(target)
    with _timed(entry):
        if target.is_file():
            posters = _posters_from_csv(target, id_column, location_column, key_type, skip_bad_rows, report)
        else:
            posters = _posters_from_names(target, report)
    logger.info("%s: %d posters in %.2fs", path, len(posters), entry.seconds)
    return posters


def _posters_from_names(folder: Path, report: LoadReport) -> PosterSource:
    entry = report.file(folder)
    locations: dict[tuple[str, str], str] = {}
    unrecognised: list[str] = []
    root = folder.resolve()
    for image in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        entry.rows_read += 1
        if not image.resolve().is_relative_to(root):  # a link out of the folder: never read, never served
            entry.add_problem(f"{image}: links to {image.resolve()}, outside {folder}; ignored")
            logger.warning("%s links outside the poster folder %s; ignored", image, folder)
            continue
        for key_type, pattern in _POSTER_NAME_PATTERNS:
            match = pattern.match(image.stem)
            if match:
                key = normalize_imdb_id(match.group(1)) if key_type == "imdbId" else str(int(match.group(1)))
                if key:
                    locations.setdefault((key_type, key), str(image.absolute()))
                break
        else:
            unrecognised.append(image.name)
    if unrecognised:
        logger.warning("%s: %d image(s) not named by movieId (123.jpg), tmdbId (tmdb123.jpg) or imdbId "
                       "(tt0114709.jpg) were ignored, e.g. %s", folder, len(unrecognised), unrecognised[:3])
    return PosterSource(locations, str(folder))


def _posters_from_csv(path: Path, id_column: str | None, location_column: str | None,
                      key_type: KeyType | None, skip: bool, report: LoadReport) -> PosterSource:
    columns = _header(path)
    id_columns: list[tuple[str, KeyType]] = []
    if id_column is not None:
        _require_columns(path, columns, [id_column], "A poster CSV")
        chosen = key_type or _key_type_of(id_column) or "movieId"
        id_columns.append((id_column, chosen))
    else:
        for kind, names in _ID_COLUMN_NAMES.items():
            column = _find_column(columns, names)
            if column is not None:
                id_columns.append((column, kind))
        if not id_columns and _find_column(columns, ("id",)):
            id_columns.append((_find_column(columns, ("id",)) or "id", key_type or "movieId"))
    location_column = location_column or _find_column(columns, _LOCATION_COLUMN_NAMES)
    if not id_columns or location_column is None:
        raise CatalogError(
            f"{path}: cannot read posters from it; it has columns {columns} and needs an id column (movieId, "
            f"imdbId, tmdbId or id) and a location column (file, path, url or poster_path)",
            path=str(path), line=1)
    _require_columns(path, columns, [location_column], "A poster CSV")
    table = _read_table(path, usecols=_unique([c for c, _ in id_columns] + [location_column]), multiline=True)
    checker = _RowChecker(table, report.file(path))
    primary, primary_type = id_columns[0]
    keys = {column: _normalized_keys(table.frame[column], kind) for column, kind in id_columns}
    checker.flag(primary, (keys[primary].isna() & (table.frame[primary].str.strip() != "")).to_numpy(),
                 lambda row: f"{table.frame[primary].iat[row]!r} is not a {primary_type}")
    locations = [_poster_location(raw.strip(), path.parent, tmdb=location_column.lower() == "poster_path")
                 for raw in table.frame[location_column]]
    raw_locations = table.frame[location_column]
    outside = np.array([loc is OUTSIDE for loc in locations], dtype=bool)
    checker.flag(location_column, outside,
                 lambda row: (f"{raw_locations.iat[row]!r} resolves outside {path.parent}; poster files must be "
                              "inside the folder of their index"))
    checker.flag(location_column, np.array([loc is None for loc in locations], dtype=bool),
                 lambda row: (f"{raw_locations.iat[row]!r} does not exist" if raw_locations.iat[row].strip()
                              else "empty; a file path or URL is required"))
    keep = checker.keep(skip)
    # each row is keyed by its most precise id only: TMDB and IMDb ids can be shared by two movieIds
    posters: dict[tuple[str, str], str] = {}
    row_keys = zip(*(keys[column].tolist() for column, _ in id_columns), strict=True)
    for row, (ids, location) in enumerate(zip(row_keys, locations, strict=True)):
        if not keep[row] or location is None or location is OUTSIDE:
            continue
        for (_, kind), key in zip(id_columns, ids, strict=True):
            if isinstance(key, str):
                posters.setdefault((kind, key), location)
                break
    return PosterSource(posters, str(path))


OUTSIDE = "<outside the poster folder>"


def _poster_location(raw: str, base: Path, *, tmdb: bool) -> str | None:
    if not raw:
        return None
    if raw.startswith(("http://", "https://")):
        return raw
    local = Path(raw) if Path(raw).is_absolute() else base / raw
    if local.is_file():
        return str(local.absolute()) if local.resolve().is_relative_to(base.resolve()) else OUTSIDE
    if tmdb and raw.startswith("/"):
        return TMDB_IMAGE_BASE + raw
    return None


__all__ = [
    "CAST_KEPT", "FileReport", "KeyType", "LoadReport", "MovieLensData", "MovieLensFormat", "PosterSource",
    "TmdbRecord", "clean_review_text", "load_movielens", "load_movies_metadata", "load_posters", "load_reviews",
    "load_tmdb_jsonl", "movielens_format", "normalize_imdb_id", "parse_movielens_title",
]
