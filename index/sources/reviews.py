"""Review CSVs: an id column (movieId, imdbId or tmdbId) and a text column."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from index.errors import CatalogError
from index.sources.common import (
    KeyType,
    LoadReport,
    StrPath,
    _find_column,
    _find_id_column,
    _header,
    _key_type_of,
    _normalized_keys,
    _read_table,
    _require_columns,
    _require_file,
    _RowChecker,
    _unique,
)

logger = logging.getLogger(__name__)

_TEXT_COLUMN_NAMES = ("text", "review", "content", "review_text", "body")
_RATING_COLUMN_NAMES = ("rating", "score", "stars")


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
