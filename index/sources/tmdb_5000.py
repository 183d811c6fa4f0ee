"""Kaggle's "TMDB 5000 Movie Dataset": ``tmdb_5000_movies.csv`` and ``tmdb_5000_credits.csv``, lists
written as JSON strings, keyed by TMDB id (the movies file has no IMDb id)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from index.sources.common import (
    LoadReport,
    MovieRecord,
    StrPath,
    _bad_row,
    _clean_text,
    _credits_people,
    _csv_rows,
    _iso_date,
    _json_list,
    _names,
    _number,
    _require_file,
    _tmdb_facts,
    _tmdb_id,
    _whole,
)

logger = logging.getLogger(__name__)

TMDB_5000_MOVIES_COLUMNS = ["id", "title", "overview", "keywords"]
TMDB_5000_CREDITS_COLUMNS = ["movie_id", "cast", "crew"]
_JSON_COLUMNS = ("genres", "keywords", "production_companies", "production_countries", "spoken_languages")


def load_tmdb_5000_movies(path: StrPath, *, skip_bad_rows: bool = False,
                          report: LoadReport | None = None) -> dict[int, MovieRecord]:
    """Load ``tmdb_5000_movies.csv`` keyed by TMDB id: overview, tagline, genres, keywords, production
    companies and countries, original and spoken languages (ISO 639-1), runtime, popularity and votes.

    A row whose ``id`` is not a positive whole number, or whose list columns are not JSON lists, or
    whose runtime is not a number, raises `CatalogError` naming file, line and field; with
    ``skip_bad_rows=True`` it is skipped and counted in `report`. A runtime of 0 means unknown.
    Repeated ids keep the first row.

    Example:
        >>> records = load_tmdb_5000_movies("../shared/data/tmdb/tmdb_5000_movies.csv")
        >>> records[19995].title, records[19995].runtime, records[19995].spoken_languages
        ('Avatar', 162, ['en', 'es'])
    """
    source = Path(path)
    _require_file(source, "the TMDB 5000 movies file (tmdb_5000_movies.csv)")
    entry = (report or LoadReport()).file(source)
    started = time.perf_counter()
    records: dict[int, MovieRecord] = {}
    for line, row in _csv_rows(source, entry, required=TMDB_5000_MOVIES_COLUMNS, what="tmdb_5000_movies.csv",
                               unit="TMDB 5000 movies", skip=skip_bad_rows):
        tmdb_id = _tmdb_id(row["id"])
        if tmdb_id is None:
            _bad_row(entry, source, line, "id", f"{row['id']!r} is not a TMDB id (a positive whole number)",
                     skip_bad_rows)
            continue
        lists = {}
        for column in _JSON_COLUMNS:
            if column in row:
                parsed = _json_list(entry, source, line, column, row[column], skip_bad_rows)
                if parsed is None:
                    break
                lists[column] = parsed
        else:
            raw_runtime = row.get("runtime", "").strip()
            if raw_runtime and _number(raw_runtime) is None:
                _bad_row(entry, source, line, "runtime", f"{raw_runtime!r} is not a number of minutes",
                         skip_bad_rows)
                continue
            records.setdefault(tmdb_id, MovieRecord(
                tmdb_id=tmdb_id,
                title=(row.get("title") or row.get("original_title") or "").strip(),
                overview=_clean_text(row["overview"]),
                tagline=_clean_text(row.get("tagline")),
                genres=_names(lists.get("genres")),
                keywords=_names(lists.get("keywords")),
                **_tmdb_facts({**lists, "original_language": row.get("original_language"), "runtime": raw_runtime}),
                popularity=_number(row.get("popularity")),
                vote_average=_number(row.get("vote_average")),
                vote_count=_whole(row.get("vote_count")),
                release_date=_iso_date(row.get("release_date")),
            ))
    entry.seconds = time.perf_counter() - started
    logger.info("%s: %d TMDB 5000 movies in %.2fs", source, len(records), entry.seconds)
    return records


def load_tmdb_5000_credits(path: StrPath, *, skip_bad_rows: bool = False,
                           report: LoadReport | None = None) -> dict[int, MovieRecord]:
    """Load ``tmdb_5000_credits.csv`` keyed by TMDB id (``movie_id``): cast in billing order, directors,
    writers (the crew's Writing department) and composers.

    A row whose ``movie_id`` is not a positive whole number, or whose ``cast`` or ``crew`` is not a
    JSON list, raises `CatalogError` naming file, line and field, or with ``skip_bad_rows=True`` is
    skipped and counted in `report`.

    Example:
        >>> records = load_tmdb_5000_credits("../shared/data/tmdb/tmdb_5000_credits.csv")
        >>> records[26371].cast[:2], records[26371].directors
        (['James Wilby', 'Hugh Grant'], ['James Ivory'])
    """
    source = Path(path)
    _require_file(source, "the TMDB 5000 credits file (tmdb_5000_credits.csv)")
    entry = (report or LoadReport()).file(source)
    started = time.perf_counter()
    records: dict[int, MovieRecord] = {}
    for line, row in _csv_rows(source, entry, required=TMDB_5000_CREDITS_COLUMNS, what="tmdb_5000_credits.csv",
                               unit="TMDB 5000 credits", skip=skip_bad_rows):
        tmdb_id = _tmdb_id(row["movie_id"])
        if tmdb_id is None:
            _bad_row(entry, source, line, "movie_id", f"{row['movie_id']!r} is not a TMDB id (a positive whole "
                     f"number)", skip_bad_rows)
            continue
        cast = _json_list(entry, source, line, "cast", row["cast"], skip_bad_rows)
        crew = _json_list(entry, source, line, "crew", row["crew"], skip_bad_rows) if cast is not None else None
        if cast is None or crew is None:
            continue
        records.setdefault(tmdb_id, MovieRecord(tmdb_id=tmdb_id, title=row.get("title", "").strip(),
                                                **_credits_people(cast, crew)))
    entry.seconds = time.perf_counter() - started
    logger.info("%s: credits of %d TMDB 5000 movies in %.2fs", source, len(records), entry.seconds)
    return records
