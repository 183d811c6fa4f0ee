"""A small real subset of ../shared/data (about 120 movies with their ratings, metadata from every file, reviews and
posters), written as a data folder, for end-to-end tests that build a real index."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pandas as pd

ANCHORS = [6, 2571, 296, 858, 1221, 47, 50, 2959, 1089, 1213, 4993, 260, 1196, 480, 1270]


def write_subset(src: Path, dest: Path, n_other: int = 90, n_reviews: int = 40) -> list[int]:
    ml = src / "ml-latest-small"
    movies = pd.read_csv(ml / "movies.csv")
    links = pd.read_csv(ml / "links.csv", dtype={"imdbId": str})
    with gzip.open(src / "tmdb" / "tmdb_api_movies.jsonl.gz", "rt") as fh:
        tmdb = {json.loads(line)["id"]: line for line in fh}
    meta = pd.read_csv(src / "tmdb" / "movies_metadata.csv", dtype=str, keep_default_na=False)
    with_overview = set(tmdb) | {int(float(i)) for i in meta["id"] if i.replace(".", "", 1).isdigit()}
    described = links[links["tmdbId"].isin(list(with_overview))]
    genres = movies.set_index("movieId")["genres"]
    animated = [m for m in described["movieId"] if "Animation" in genres[m] and "Children" in genres[m]][:15]
    others = [m for m in described["movieId"] if m not in animated + ANCHORS][:n_other]
    ids = animated + [m for m in ANCHORS if m in set(movies["movieId"])] + others
    out = dest / "ml-latest-small"
    out.mkdir(parents=True)
    movies[movies["movieId"].isin(ids)].to_csv(out / "movies.csv", index=False)
    sub_links = links[links["movieId"].isin(ids)]
    sub_links.to_csv(out / "links.csv", index=False)
    ratings = pd.read_csv(ml / "ratings.csv")
    ratings[ratings["movieId"].isin(ids)].to_csv(out / "ratings.csv", index=False)
    write_metadata_slice(src, dest, {int(t) for t in sub_links["tmdbId"].dropna()},
                         {"tt" + i for i in sub_links["imdbId"]})
    reviews = pd.read_csv(src / "reviews" / "reviews.csv")
    wanted = {"tt" + i for i in sub_links["imdbId"]}
    sub_reviews = reviews[reviews["imdbId"].isin(wanted)]
    keep = list(dict.fromkeys(sub_reviews["imdbId"]))[:n_reviews]
    (dest / "reviews").mkdir()
    sub_reviews[sub_reviews["imdbId"].isin(keep)].groupby("imdbId").head(3).to_csv(dest / "reviews" / "reviews.csv",
                                                                                   index=False)
    (dest / "posters" / "images").mkdir(parents=True)
    for mid in ids[:20]:
        poster = src / "posters" / "images" / f"{mid}.jpg"
        if poster.exists():
            shutil.copy(poster, dest / "posters" / "images" / poster.name)
    return ids


METADATA_KEYS = {  # file under the data folder: (its id column, whether that column holds IMDb links)
    "tmdb/tmdb_5000_movies.csv": ("id", False), "tmdb/tmdb_5000_credits.csv": ("movie_id", False),
    "tmdb/tmdb-movies.csv": ("id", False), "tmdb/movies_metadata.csv": ("id", False),
    "imdb/movie_metadata.csv": ("movie_imdb_link", True),
}


def write_metadata_slice(src: Path, dest: Path, tmdb_ids: set[int], imdb_ids: set[str]) -> None:
    """Copy the rows of every metadata file in `src` (and the TMDB API lines) that belong to the given movies,
    verbatim, header first, into the same layout under `dest`."""
    import csv

    for name, (column, is_link) in METADATA_KEYS.items():
        if not (src / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        with open(src / name, newline="", encoding="utf-8") as fh_in, \
                open(dest / name, "w", newline="", encoding="utf-8") as fh_out:
            reader, writer = csv.reader(fh_in), csv.writer(fh_out)
            header = next(reader)
            writer.writerow(header)
            at = header.index(column)
            for row in reader:
                key = row[at]
                number = re.fullmatch(r"(\d+)(?:\.0+)?", key.strip())
                if (is_link and any(f"/{i}/" in key for i in imdb_ids)) or (
                        number is not None and int(number.group(1)) in tmdb_ids):
                    writer.writerow(row)
    api = src / "tmdb" / "tmdb_api_movies.jsonl.gz"
    if api.is_file():
        with gzip.open(api, "rt") as fh_in, gzip.open(dest / "tmdb" / api.name, "wt") as fh_out:
            fh_out.writelines(line for line in fh_in if json.loads(line)["id"] in tmdb_ids)
