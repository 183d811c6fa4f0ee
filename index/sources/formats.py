"""Which movie-metadata format a file holds, told from its header (or first line), not its name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

from index.errors import CatalogError
from index.sources.common import LoadReport, MovieRecord, StrPath, _open_text
from index.sources.imdb_5000 import load_imdb_5000
from index.sources.movies_metadata import load_movies_metadata
from index.sources.tmdb_5000 import load_tmdb_5000_credits, load_tmdb_5000_movies
from index.sources.tmdb_api import load_tmdb_jsonl
from index.sources.tmdb_movie_data import load_tmdb_movie_data

MetadataFormat = Literal["tmdb_api", "tmdb_5000_movies", "tmdb_5000_credits", "movies_metadata",
                         "tmdb_movie_data", "imdb_5000"]
METADATA_FORMATS: tuple[MetadataFormat, ...] = get_args(MetadataFormat)

# Most specific first: each format is known by columns the ones after it lack.
_SIGNATURES: list[tuple[MetadataFormat, frozenset[str]]] = [
    ("tmdb_5000_credits", frozenset({"movie_id", "cast", "crew"})),
    ("imdb_5000", frozenset({"movie_imdb_link", "director_name"})),
    ("tmdb_movie_data", frozenset({"id", "cast", "director"})),
    ("movies_metadata", frozenset({"id", "imdb_id", "overview"})),
    ("tmdb_5000_movies", frozenset({"id", "overview", "keywords"})),
]
LOADERS: dict[MetadataFormat, Callable[..., dict[Any, MovieRecord]]] = {
    "tmdb_api": load_tmdb_jsonl, "tmdb_5000_movies": load_tmdb_5000_movies,
    "tmdb_5000_credits": load_tmdb_5000_credits, "movies_metadata": load_movies_metadata,
    "tmdb_movie_data": load_tmdb_movie_data, "imdb_5000": load_imdb_5000,
}
DESCRIPTIONS: dict[MetadataFormat, str] = {
    "tmdb_api": "TMDB API movie objects, one JSON object per line",
    "tmdb_5000_movies": "Kaggle TMDB 5000 movies (tmdb_5000_movies.csv)",
    "tmdb_5000_credits": "Kaggle TMDB 5000 credits (tmdb_5000_credits.csv)",
    "movies_metadata": "The Movies Dataset (movies_metadata.csv)",
    "tmdb_movie_data": 'the Udacity "TMDb movie data" (tmdb-movies.csv)',
    "imdb_5000": "Kaggle IMDB 5000 (movie_metadata.csv)",
}


def detect_format(path: StrPath) -> MetadataFormat | None:
    """The metadata format a file holds, from its first line: JSON objects are TMDB API lines, a CSV
    header is matched against each format's columns; None for anything else (gzip is read through).

    Example:
        >>> [detect_format(f"../shared/data/{name}") for name in ("imdb/movie_metadata.csv", "tmdb/tmdb-movies.csv")]
        ['imdb_5000', 'tmdb_movie_data']
    """
    source = Path(path)
    try:
        with _open_text(source, "utf-8") as handle:
            first = handle.readline(1 << 20).lstrip("\ufeff").strip()
    except OSError as exc:
        raise CatalogError(f"{source}: cannot be read ({exc})", path=str(source)) from exc
    if first.startswith("{"):
        try:
            return "tmdb_api" if isinstance(json.loads(first), dict) else None
        except json.JSONDecodeError:
            return "tmdb_api" if '"id"' in first else None
    columns = {name.strip().strip('"').lower() for name in first.split(",")}
    return next((name for name, needed in _SIGNATURES if needed <= columns), None)


def load_metadata(path: StrPath, *, expected: MetadataFormat | None = None, skip_bad_rows: bool = False,
                  report: LoadReport | None = None) -> tuple[MetadataFormat, dict[Any, MovieRecord]]:
    """Detect a metadata file's format and load it: ``(format, records)``, records keyed by TMDB id
    (an int) or, for IMDB 5000, by IMDb id. A file whose header matches no known format, or another
    format than `expected`, raises `CatalogError` saying what it looks like.

    Example:
        >>> kind, records = load_metadata("../shared/data/tmdb/tmdb_5000_credits.csv")
        >>> kind, records[26371].directors
        ('tmdb_5000_credits', ['James Ivory'])
    """
    source = Path(path)
    if not source.is_file():
        raise CatalogError(f"{source}: not found; expected one of: {', '.join(DESCRIPTIONS.values())}",
                           path=str(source))
    found = detect_format(source)
    if found is None or (expected is not None and found != expected):
        wanted = DESCRIPTIONS[expected] if expected else "one of: " + "; ".join(DESCRIPTIONS.values())
        seen = f"it looks like {DESCRIPTIONS[found]}" if found else "its header matches no known format"
        raise CatalogError(f"{source}, line 1 (header): {seen}; expected {wanted}. Check the file, or pass it "
                           f"where that format is read", path=str(source), line=1)
    return found, LOADERS[found](source, skip_bad_rows=skip_bad_rows, report=report)
