"""TMDB API v3 movie objects as JSON lines, the shape ``cinefuse fetch tmdb`` writes."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from index.sources.common import (
    LoadReport,
    MovieRecord,
    StrPath,
    _bad_row,
    _clean_text,
    _credits_people,
    _iso_date,
    _names,
    _number,
    _open_text,
    _progress,
    _require_file,
    _tmdb_facts,
    _truncation,
    _unique,
    _unwrap,
    _whole,
    normalize_imdb_id,
)

logger = logging.getLogger(__name__)


def load_tmdb_jsonl(path: StrPath, *, skip_bad_rows: bool = False,
                    report: LoadReport | None = None) -> dict[int, MovieRecord]:
    """Load TMDB API v3 movie objects, one JSON object per line, gzipped or plain, keyed by TMDB id.

    Reads the objects ``/movie/{id}?append_to_response=keywords,credits,reviews`` returns: genres,
    keywords (a list, or ``{"keywords": [...]}``, or the ``{"results": [...]}`` of TV-style responses),
    the first `CAST_KEPT` cast by billing order, directors, writers and composers from the crew, production
    companies and countries, collection, languages (ISO 639-1), runtime and review texts. A line that is not a
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
    records: dict[int, MovieRecord] = {}
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


def _tmdb_record_from_api(tmdb_id: int, obj: dict[str, Any]) -> MovieRecord:
    credits = obj["credits"] if isinstance(obj.get("credits"), dict) else {}
    return MovieRecord(
        tmdb_id=tmdb_id,
        imdb_id=normalize_imdb_id(obj.get("imdb_id")),
        title=str(obj.get("title") or obj.get("name") or ""),
        overview=_clean_text(obj.get("overview")),
        tagline=_clean_text(obj.get("tagline")),
        genres=_names(obj.get("genres")),
        keywords=_names(_unwrap(obj.get("keywords"), "keywords")),
        **_credits_people(credits.get("cast"), credits.get("crew")),
        **_tmdb_facts(obj),
        poster_path=_clean_text(obj.get("poster_path")),
        popularity=_number(obj.get("popularity")),
        vote_average=_number(obj.get("vote_average")),
        vote_count=_whole(obj.get("vote_count")),
        release_date=_iso_date(obj.get("release_date")),
        reviews=_unique(text for text in (
            _clean_text(r.get("content") if isinstance(r, dict) else r)
            for r in _unwrap(obj.get("reviews"), "results") or []) if text),
    )
