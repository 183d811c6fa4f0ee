"""Poster images: a folder named by id, a folder with an index CSV, or a CSV of poster URLs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.errors import CatalogError
from index.sources.common import (
    _ID_COLUMN_NAMES,
    KeyType,
    LoadReport,
    StrPath,
    _find_column,
    _header,
    _key_type_of,
    _normalized_keys,
    _read_table,
    _require_columns,
    _RowChecker,
    _timed,
    _unique,
    normalize_imdb_id,
)

logger = logging.getLogger(__name__)

TMDB_IMAGE_BASE = "https://image.tmdb.org/t/p/w500"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
_LOCATION_COLUMN_NAMES = ("file", "path", "filename", "poster", "poster_file", "poster_url", "url", "image",
                          "image_url", "poster_path")


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
