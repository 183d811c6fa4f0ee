"""The Movies Dataset's ``movies_metadata.csv`` (the Kaggle TMDB export), quirks and all."""

from __future__ import annotations

import ast
import csv
import logging
import sys
import time
from pathlib import Path
from typing import Any

from index.errors import CatalogError
from index.sources.common import (
    LoadReport,
    MovieRecord,
    StrPath,
    _bad_row,
    _clean_text,
    _iso_date,
    _names,
    _number,
    _open_text,
    _progress,
    _require_columns,
    _require_file,
    _tmdb_facts,
    _unwrap,
    _whole,
    normalize_imdb_id,
)

logger = logging.getLogger(__name__)


def load_movies_metadata(path: StrPath, *, skip_bad_rows: bool = False,
                         report: LoadReport | None = None) -> dict[int, MovieRecord]:
    """Load The Movies Dataset's ``movies_metadata.csv`` as it really ships, keyed by TMDB id.

    Copes with its quirks: ids written as floats (``862.0``), genres as Python-literal lists,
    spreadsheet-mangled dates (``10/30/1995``), empty or placeholder overviews ("No overview found."),
    non-numeric popularity (kept as None). Collection, production companies and countries, languages
    (ISO 639-1) and runtime are read too. A row whose ``id`` is not a whole number (the real file has
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
    records: dict[int, MovieRecord] = {}
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
            records[tmdb_id] = MovieRecord(
                tmdb_id=tmdb_id,
                imdb_id=normalize_imdb_id(value.get("imdb_id")),
                title=(value.get("title") or value.get("original_title") or "").strip(),
                overview=_clean_text(value.get("overview")),
                tagline=_clean_text(value.get("tagline")),
                genres=_names(_literal(value.get("genres"))),
                keywords=_names(_unwrap(_literal(value.get("keywords")), "keywords")),
                **_tmdb_facts({name: _literal(value.get(name)) for name in _LITERAL_COLUMNS}
                              | {"original_language": value.get("original_language"),
                                 "runtime": value.get("runtime")}),
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


_LITERAL_COLUMNS = ("belongs_to_collection", "production_companies", "production_countries", "spoken_languages")


def _literal(text: str | None) -> Any:
    if not text or not text.strip():
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
