"""Loaders for every source cinefuse reads: MovieLens releases, TMDB API dumps, The Movies Dataset,
TMDB 5000 movies and credits, the Udacity "TMDb movie data", IMDB 5000, review CSVs and poster folders,
one module per source behind the same ``load_*`` functions (`detect_format` tells the metadata files apart).

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
    MovieRecord,
    StrPath,
    TmdbRecord,
    normalize_imdb_id,
)
from index.sources.formats import METADATA_FORMATS, MetadataFormat, detect_format, load_metadata
from index.sources.imdb_5000 import load_imdb_5000
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
from index.sources.tmdb_5000 import load_tmdb_5000_credits, load_tmdb_5000_movies
from index.sources.tmdb_api import load_tmdb_jsonl
from index.sources.tmdb_movie_data import load_tmdb_movie_data

__all__ = [
    "CAST_KEPT", "FileReport", "IMAGE_SUFFIXES", "KeyType", "LoadReport", "MAX_PROBLEMS_KEPT", "MAX_RATING",
    "METADATA_FORMATS", "MIN_RATING", "MetadataFormat", "MovieLensData", "MovieLensFormat", "MovieRecord",
    "POSTER_INDEX_NAMES", "PosterSource", "SKIP_HINT", "StrPath", "TMDB_IMAGE_BASE", "TmdbRecord",
    "clean_review_text", "detect_format", "latest_ratings", "load_imdb_5000", "load_metadata", "load_movielens",
    "load_movies_metadata", "load_posters", "load_reviews", "load_tmdb_5000_credits", "load_tmdb_5000_movies",
    "load_tmdb_jsonl", "load_tmdb_movie_data", "movielens_format", "normalize_imdb_id", "parse_movielens_title",
]
