"""What every source reader shares: load reports, strict table reading with file/line/field errors,
id normalisation, the per-movie record the metadata readers return, and small value cleaners."""

from __future__ import annotations

import contextlib
import csv
import gzip
import html
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

import ftfy
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from index.errors import CatalogError
from index.sources.codes import country_code, language_code

logger = logging.getLogger(__name__)

StrPath = str | PathLike[str]
KeyType = Literal["movieId", "imdbId", "tmdbId"]

MAX_PROBLEMS_KEPT = 5
SKIP_HINT = "fix or delete the row, or pass --skip-bad-rows (skip_bad_rows=True) to drop bad rows and count them"
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


# --------------------------------------------------------------------------- ids

_IMDB_ID = re.compile(r"^(?:tt)?(\d{1,10})(?:\.0+)?$", re.IGNORECASE)


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


@contextmanager
def _timed(entry: FileReport) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        entry.seconds += time.perf_counter() - started


# --------------------------------------------------------------------------- the per-movie record


@dataclass
class MovieRecord:
    """The fields cinefuse uses from one movie in one metadata source (TMDB API, TMDB 5000, The Movies
    Dataset, TMDb movie data, IMDB 5000); a source leaves empty what it does not carry.

    People and keywords keep their source's order (cast in billing order). Languages are ISO 639-1
    codes, countries ISO 3166-1 alpha-2 codes, runtime whole minutes, dates ``yyyy-mm-dd``.

    Example:
        >>> MovieRecord(tmdb_id=862, title="Toy Story", directors=["John Lasseter"]).directors
        ['John Lasseter']
    """

    tmdb_id: int | None = None
    imdb_id: str | None = None
    title: str = ""
    overview: str | None = None
    tagline: str | None = None
    genres: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    cast: list[str] = field(default_factory=list)  # the first CAST_KEPT by billing order
    directors: list[str] = field(default_factory=list)
    writers: list[str] = field(default_factory=list)
    composers: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    collection: str | None = None  # the franchise, e.g. "Toy Story Collection"
    original_language: str | None = None  # ISO 639-1
    spoken_languages: list[str] = field(default_factory=list)  # ISO 639-1
    countries: list[str] = field(default_factory=list)  # ISO 3166-1 alpha-2
    runtime: int | None = None  # minutes
    poster_path: str | None = None
    popularity: float | None = None
    vote_average: float | None = None
    vote_count: int | None = None
    release_date: str | None = None  # ISO yyyy-mm-dd
    reviews: list[str] = field(default_factory=list)


TmdbRecord = MovieRecord  # the name before the other metadata sources joined

_PLACEHOLDER_TEXT = frozenset({"", "no overview found.", "no overview", "no overview yet.", "n/a", "nan", "none"})
CAST_KEPT = 20
WRITING_DEPARTMENT = "Writing"
WRITER_JOBS = frozenset({"Screenplay", "Writer", "Story", "Novel", "Author", "Screenstory", "Original Story"})
COMPOSER_JOBS = frozenset({"Original Music Composer", "Music", "Composer", "Music Score Composer"})


def _credits_people(cast_value: Any, crew_value: Any) -> dict[str, Any]:
    """cast (billing order), directors, writers and composers from TMDB credit lists."""
    cast = [c for c in _dicts(cast_value) if str(c.get("name") or "").strip()]
    cast.sort(key=lambda c: c["order"] if isinstance(c.get("order"), int) else sys.maxsize)
    crew = [c for c in _dicts(crew_value) if str(c.get("name") or "").strip()]

    def names(people: Iterable[dict[str, Any]]) -> list[str]:
        return _unique(_clean_name(str(c["name"])) for c in people)

    return {"cast": names(cast)[:CAST_KEPT], "directors": names(c for c in crew if c.get("job") == "Director"),
            "writers": names(c for c in crew if c.get("department") == WRITING_DEPARTMENT
                             or c.get("job") in WRITER_JOBS),
            "composers": names(c for c in crew if c.get("job") in COMPOSER_JOBS)}


def _tmdb_facts(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Companies, collection, languages, countries and runtime from a TMDB movie object (parsed lists)."""
    collection = obj.get("belongs_to_collection")
    spoken = _dicts(obj.get("spoken_languages"))
    countries = _dicts(obj.get("production_countries"))
    runtime = _number(obj.get("runtime"))
    return {
        "companies": _names(obj.get("production_companies")),
        "collection": _clean_text(collection.get("name")) if isinstance(collection, dict) else None,
        "original_language": language_code(_clean_text(obj.get("original_language"))),
        "spoken_languages": _unique(code for code in (
            language_code(item.get("iso_639_1") or item.get("name")) for item in spoken) if code),
        "countries": _unique(code for code in (
            country_code(item.get("iso_3166_1") or item.get("name")) for item in countries) if code),
        "runtime": round(runtime) if runtime is not None and runtime > 0 else None,
    }


def _unwrap(value: Any, key: str) -> list[Any]:
    """A list given bare, or wrapped as ``{key: [...]}`` or TV-style ``{"results": [...]}``."""
    if isinstance(value, dict):
        value = value.get(key, value.get("results"))
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _names(value: Any) -> list[str]:
    return _unique(_clean_name(str(item["name"])) for item in _dicts(value) if str(item.get("name") or "").strip())


def _clean_name(name: str) -> str:
    """A person, keyword or company name with HTML entities decoded and spacing collapsed."""
    return " ".join(html.unescape(name).split())


def _unique(values: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(values))


def _clean_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = html.unescape(value).strip() if "&" in value else value.strip()
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


def _csv_rows(source: Path, entry: FileReport, *, required: list[str], what: str, unit: str,
              skip: bool) -> Iterator[tuple[int, dict[str, str]]]:
    """Each data row of a CSV as ``(line, {column: text})``, the line where the row starts (quoted
    fields may hold newlines). A row with the wrong number of fields is a bad row: it raises
    `CatalogError` naming file and line, or with `skip` is counted in `entry` and left out."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with _open_text(source, "utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise CatalogError(f"{source}: the file is empty; it needs a header and rows", path=str(source), line=1)
        header = [name.strip() for name in header]
        _require_columns(source, header, required, what)
        line = reader.line_num + 1
        for row in _progress(reader, source, unit):
            number, line = line, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            entry.rows_read += 1
            if len(row) != len(header):
                _bad_row(entry, source, number, None, f"expected {len(header)} fields, saw {len(row)}", skip)
                continue
            yield number, dict(zip(header, row, strict=True))


def _tmdb_id(raw: str) -> int | None:
    """A positive whole-number TMDB id from ``862`` or ``862.0``, else None."""
    number = _whole(raw.strip())
    return number if number is not None and 0 < number <= _INT32_MAX else None


def _json_list(entry: FileReport, source: Path, line: int, column: str, raw: str, skip: bool) -> list[Any] | None:
    """A column holding a JSON list (empty text is an empty list); None after reporting a bad row."""
    if not raw.strip():
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        _bad_row(entry, source, line, column, f"not a JSON list ({exc.msg} at column {exc.colno})", skip)
        return None
    if not isinstance(value, list):
        _bad_row(entry, source, line, column, f"a JSON {type(value).__name__}, not a list", skip)
        return None
    return value


_MOJIBAKE_HINT = re.compile("[\u00c2-\u00c3\u00c5\u00e2][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178"
                            "\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]")


def _repair_text(text: str) -> str:
    """Text with UTF-8 that was decoded as Windows-1252 repaired (``GonzÃ¡lez`` -> ``González``),
    HTML entities decoded and spacing collapsed; curly quotes are left alone. Where a byte was lost in
    that decoding (``Ã`` + 0x81 for ``Á``) the text stays as it is."""
    if _MOJIBAKE_HINT.search(text):
        text = ftfy.fix_text(text, uncurl_quotes=False, fix_latin_ligatures=False, fix_character_width=False)
        if _MOJIBAKE_HINT.search(text):  # ftfy keeps "Ã…" (Å), which it cannot rule out as real text
            with contextlib.suppress(UnicodeError):
                text = text.encode("cp1252").decode("utf-8")
    return " ".join(html.unescape(text).split()) if "&" in text else " ".join(text.split())


def _pipe_list(raw: str) -> list[str]:
    """``a|b|c`` as a list of repaired, distinct, non-empty names."""
    return _unique(name for name in (_repair_text(part) for part in raw.split("|")) if name)


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise CatalogError(f"{path}: not found; expected {what}", path=str(path))


def _progress(items: Iterable[_T], path: Path, unit: str) -> Iterator[_T]:
    """Iterate with a progress bar that appears only if the step is still running after a second."""
    yield from tqdm(items, desc=path.name, unit=f" {unit}", delay=1.0, leave=False)


# --------------------------------------------------------------------------- id columns

_ID_COLUMN_NAMES: dict[KeyType, tuple[str, ...]] = {
    "movieId": ("movieid", "movie_id", "movielens_id", "ml_id"),
    "imdbId": ("imdbid", "imdb_id", "imdb", "tconst"),
    "tmdbId": ("tmdbid", "tmdb_id", "tmdb"),
}


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
