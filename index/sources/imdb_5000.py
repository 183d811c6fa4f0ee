"""Kaggle's "IMDB 5000 Movie Dataset" (``movie_metadata.csv``, scraped from IMDb): director, three lead
actors, plot keywords, language and country names, duration; keyed by the IMDb id inside its link."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from index.sources.codes import country_code, language_code
from index.sources.common import (
    LoadReport,
    MovieRecord,
    StrPath,
    _bad_row,
    _csv_rows,
    _number,
    _pipe_list,
    _repair_text,
    _require_file,
    normalize_imdb_id,
)

logger = logging.getLogger(__name__)

IMDB_5000_COLUMNS = ["movie_imdb_link", "movie_title", "director_name"]
ACTOR_COLUMNS = ("actor_1_name", "actor_2_name", "actor_3_name")
_TITLE_LINK = re.compile(r"/title/(tt\d+)", re.IGNORECASE)


def load_imdb_5000(path: StrPath, *, skip_bad_rows: bool = False,
                   report: LoadReport | None = None) -> dict[str, MovieRecord]:
    """Load the IMDB 5000 ``movie_metadata.csv`` keyed by IMDb id (``tt`` + 7 digits).

    The id comes from ``movie_imdb_link`` (``http://www.imdb.com/title/tt0499549/?ref_=...``); titles
    lose their trailing (non-breaking) spaces; ``director_name`` and ``actor_1_name`` to
    ``actor_3_name`` become the directors and cast; ``plot_keywords`` and ``genres`` are split on pipes;
    ``language`` (a name such as ``Mandarin``) becomes an ISO 639-1 code, ``country`` an ISO 3166-1
    code, ``duration`` the runtime in minutes. A link without an IMDb title id, or a duration that is
    not a number, raises `CatalogError` naming file, line and field, or with ``skip_bad_rows=True`` is
    skipped and counted; a row with no link at all cannot be joined and is left out (logged). A
    repeated id keeps its first row (the file repeats about 120 movies).

    Example:
        >>> records = load_imdb_5000("../shared/data/imdb/movie_metadata.csv")
        >>> avatar = records["tt0499549"]
        >>> avatar.title, avatar.directors, avatar.original_language, avatar.countries, avatar.runtime
        ('Avatar', ['James Cameron'], 'en', ['US'], 178)
    """
    source = Path(path)
    _require_file(source, "the IMDB 5000 movie_metadata.csv")
    entry = (report or LoadReport()).file(source)
    started = time.perf_counter()
    records: dict[str, MovieRecord] = {}
    repeated = unlinked = 0
    for line, row in _csv_rows(source, entry, required=IMDB_5000_COLUMNS, what="The IMDB 5000 movie_metadata.csv",
                               unit="IMDB movies", skip=skip_bad_rows):
        link = row["movie_imdb_link"].strip()
        if not link:
            unlinked += 1
            continue
        match = _TITLE_LINK.search(link)
        imdb_id = normalize_imdb_id(match.group(1)) if match else None
        if imdb_id is None:
            _bad_row(entry, source, line, "movie_imdb_link", f"{link!r} holds no IMDb title id (like "
                     f"http://www.imdb.com/title/tt0499549/)", skip_bad_rows)
            continue
        raw_duration = row.get("duration", "").strip()
        duration = _number(raw_duration)
        if raw_duration and duration is None:
            _bad_row(entry, source, line, "duration", f"{raw_duration!r} is not a number of minutes", skip_bad_rows)
            continue
        if imdb_id in records:
            repeated += 1
            continue
        language = language_code(row.get("language"))
        country = country_code(row.get("country"))
        records[imdb_id] = MovieRecord(
            imdb_id=imdb_id,
            title=_repair_text(row["movie_title"]),
            genres=_pipe_list(row.get("genres", "")),
            keywords=_pipe_list(row.get("plot_keywords", "")),
            cast=_pipe_list("|".join(row.get(column, "") for column in ACTOR_COLUMNS)),
            directors=_pipe_list(row["director_name"]),
            original_language=language,
            spoken_languages=[language] if language else [],
            countries=[country] if country else [],
            runtime=round(duration) if duration else None,
        )
    entry.seconds = time.perf_counter() - started
    if repeated or unlinked:
        logger.info("%s: %d repeated id(s) ignored (first row kept), %d row(s) without a link left out", source,
                    repeated, unlinked)
    logger.info("%s: %d IMDB movies in %.2fs", source, len(records), entry.seconds)
    return records
