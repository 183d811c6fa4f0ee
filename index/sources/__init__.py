"""Loaders for every source cinefuse reads: MovieLens releases, TMDB API dumps, The Movies Dataset,
review CSVs and poster folders, one module per source behind the same ``load_*`` functions.

Each loader validates as it reads. A bad row raises `CatalogError` naming the file, the 1-based line
(the header is line 1) and the field; with ``skip_bad_rows=True`` bad rows are dropped instead and
counted in a `LoadReport`. Large numeric files go through pandas' C parser first and are only re-read
more slowly, to find the exact line, when that strict fast read fails.
"""

from index.sources.common import (
    CAST_KEPT,
    MAX_PROBLEMS_KEPT,
    MAX_RATING,
    MIN_RATING,
    SKIP_HINT,
    FileReport,
    KeyType,
    LoadReport,
    StrPath,
    TmdbRecord,
    normalize_imdb_id,
)
from index.sources.movielens import (
    MovieLensData,
    MovieLensFormat,
    latest_ratings,
    load_movielens,
    movielens_format,
    parse_movielens_title,
)
from index.sources.movies_metadata import load_movies_metadata
from index.sources.posters import IMAGE_SUFFIXES, POSTER_INDEX_NAMES, TMDB_IMAGE_BASE, PosterSource, load_posters
from index.sources.reviews import clean_review_text, load_reviews
from index.sources.tmdb_api import load_tmdb_jsonl

__all__ = [
    "CAST_KEPT", "IMAGE_SUFFIXES", "MAX_PROBLEMS_KEPT", "MAX_RATING", "MIN_RATING", "POSTER_INDEX_NAMES", "SKIP_HINT",
    "TMDB_IMAGE_BASE", "FileReport", "KeyType", "LoadReport", "MovieLensData", "MovieLensFormat", "PosterSource",
    "StrPath", "TmdbRecord", "clean_review_text", "latest_ratings", "load_movielens", "load_movies_metadata",
    "load_posters", "load_reviews", "load_tmdb_jsonl", "movielens_format", "normalize_imdb_id", "parse_movielens_title",
]
