"""The Udacity "TMDb movie data" file (``tmdb-movies.csv``): pipe-separated cast (top 5), directors,
keywords, genres and companies, keyed by TMDB id, with names whose UTF-8 was once read as Windows-1252."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from index.sources.common import (
    LoadReport,
    MovieRecord,
    StrPath,
    _bad_row,
    _clean_text,
    _csv_rows,
    _number,
    _pipe_list,
    _repair_text,
    _require_file,
    _tmdb_id,
    _whole,
    normalize_imdb_id,
)

logger = logging.getLogger(__name__)

TMDB_MOVIE_DATA_COLUMNS = ["id", "cast", "director"]
_SHORT_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")


def load_tmdb_movie_data(path: StrPath, *, skip_bad_rows: bool = False,
                         report: LoadReport | None = None) -> dict[int, MovieRecord]:
    """Load the "TMDb movie data" CSV (``tmdb-movies.csv``) keyed by TMDB id.

    Reads ``id``, ``cast`` and ``director`` (pipe-separated, several directors possible) and, where the
    copy has them, ``keywords``, ``genres``, ``production_companies``, ``imdb_id``, ``overview``,
    ``tagline``, ``runtime``, ``popularity``, vote stats and ``release_date`` (``m/d/yy``, its century
    from ``release_year``). Mojibake such as ``GonzÃ¡lez`` is repaired to ``González``. A row whose
    ``id`` is not a positive whole number, or whose runtime is not a number, raises `CatalogError`
    naming file, line and field, or with ``skip_bad_rows=True`` is skipped and counted; a repeated id
    keeps its first row (the original file repeats one).

    Example:
        >>> records = load_tmdb_movie_data("../shared/data/tmdb/tmdb-movies.csv")
        >>> records[281957].directors, records[281957].cast[0]
        (['Alejandro González Iñárritu'], 'Leonardo DiCaprio')
    """
    source = Path(path)
    _require_file(source, 'the "TMDb movie data" file (tmdb-movies.csv)')
    entry = (report or LoadReport()).file(source)
    started = time.perf_counter()
    records: dict[int, MovieRecord] = {}
    repeated = 0
    for line, row in _csv_rows(source, entry, required=TMDB_MOVIE_DATA_COLUMNS, what="tmdb-movies.csv",
                               unit="TMDb movies", skip=skip_bad_rows):
        tmdb_id = _tmdb_id(row["id"])
        if tmdb_id is None:
            _bad_row(entry, source, line, "id", f"{row['id']!r} is not a TMDB id (a positive whole number)",
                     skip_bad_rows)
            continue
        raw_runtime = row.get("runtime", "").strip()
        if raw_runtime and _number(raw_runtime) is None:
            _bad_row(entry, source, line, "runtime", f"{raw_runtime!r} is not a number of minutes", skip_bad_rows)
            continue
        if tmdb_id in records:
            repeated += 1
            continue
        runtime = _number(raw_runtime)
        overview, tagline = _clean_text(row.get("overview")), _clean_text(row.get("tagline"))
        records[tmdb_id] = MovieRecord(
            tmdb_id=tmdb_id,
            imdb_id=normalize_imdb_id(row.get("imdb_id")),
            title=_repair_text(row.get("original_title") or row.get("title") or ""),
            overview=_repair_text(overview) if overview else None,
            tagline=_repair_text(tagline) if tagline else None,
            genres=_pipe_list(row.get("genres", "")),
            keywords=_pipe_list(row.get("keywords", "")),
            cast=_pipe_list(row["cast"]),
            directors=_pipe_list(row["director"]),
            companies=_pipe_list(row.get("production_companies", "")),
            runtime=round(runtime) if runtime else None,
            popularity=_number(row.get("popularity")),
            vote_average=_number(row.get("vote_average")),
            vote_count=_whole(row.get("vote_count")),
            release_date=_release_date(row.get("release_date", ""), row.get("release_year", "")),
        )
    entry.seconds = time.perf_counter() - started
    if repeated:
        logger.info("%s: %d repeated id(s) ignored, the first row of each kept", source, repeated)
    logger.info("%s: %d TMDb movies in %.2fs", source, len(records), entry.seconds)
    return records


def _release_date(raw: str, year: str) -> str | None:
    """``yyyy-mm-dd`` from the file's ``m/d/yy``, taking the century from its release_year column."""
    match = _SHORT_US_DATE.match(raw.strip())
    if not match:
        return None
    month, day, short = int(match.group(1)), int(match.group(2)), match.group(3)
    full = _whole(year.strip())
    if len(short) == 4:
        full = int(short)
    elif full is None or full % 100 != int(short):
        return None
    return f"{full:04d}-{month:02d}-{day:02d}" if 1 <= month <= 12 and 1 <= day <= 31 else None
