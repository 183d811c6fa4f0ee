"""Every source format, written small into tmp_path with known answers; then malformed files; then the real data."""

from __future__ import annotations

import csv
import gzip
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from index import sources
from index.errors import CatalogError
from index.sources import (
    LoadReport,
    PosterSource,
    clean_review_text,
    load_movielens,
    load_movies_metadata,
    load_posters,
    load_reviews,
    load_tmdb_jsonl,
    movielens_format,
    normalize_imdb_id,
    parse_movielens_title,
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def write_latest_small(folder: Path, *, ratings: str | None = None, links: bool = True, tags: bool = True) -> Path:
    write(folder / "movies.csv",
          "movieId,title,genres\n"
          "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
          '2,"Matrix, The (1999)",Action|Sci-Fi|Thriller\n'
          '3,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Drama|Fantasy\n'
          "4,Babylon 5,(no genres listed)\n")
    write(folder / "ratings.csv", ratings or (
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,964982703\n"
        "1,2,5.0,964981247\n"
        "2,1,3.5,1445714994\n"
        "2,3,0.5,1445714996\n"))
    if links:
        write(folder / "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n2,0133093,603\n3,0112682,902\n4,0105946,\n")
    if tags:
        write(folder / "tags.csv",
              "userId,movieId,tag,timestamp\n"
              "2,1,pixar,1445714994\n"
              "3,1,Pixar,1445714995\n"
              "3,1,fun,1445714996\n"
              '2,2,"cyberpunk, dystopia",1445714997\n')
    return folder


# --------------------------------------------------------------------------- titles and ids


@pytest.mark.parametrize(("raw", "title", "year"), [
    ("Toy Story (1995)", "Toy Story", 1995),
    ("Matrix, The (1999)", "The Matrix", 1999),
    ("Lord of the Rings: The Fellowship of the Ring, The (2001)",
     "The Lord of the Rings: The Fellowship of the Ring", 2001),
    ("City of Lost Children, The (Cité des enfants perdus, La) (1995)",
     "The City of Lost Children (La Cité des enfants perdus)", 1995),
    ("Misérables, Les (1995)", "Les Misérables", 1995),
    ("Avventura, L' (1960)", "L'Avventura", 1960),
    ("Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)",
     "The Good, the Bad and the Ugly (Il Buono, il brutto, il cattivo)", 1966),
    ("Paris, Texas (1984)", "Paris, Texas", 1984),
    ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009),
    ("Death Note: Desu nôto (2006–2007)", "Death Note: Desu nôto", 2006),
    ("Justice League: Doom (2012) ", "Justice League: Doom", 2012),
    ("Babylon 5", "Babylon 5", None),
    ("unknown", "unknown", None),
])
def test_parse_movielens_title(raw: str, title: str, year: int | None) -> None:
    assert parse_movielens_title(raw) == (title, year)


@pytest.mark.parametrize(("raw", "expected"), [
    ("114709", "tt0114709"), ("0114709", "tt0114709"), ("tt0114709", "tt0114709"), ("TT114709", "tt0114709"),
    ("114709.0", "tt0114709"), (114709, "tt0114709"), (114709.0, "tt0114709"), ("tt10872600", "tt10872600"),
    ("", None), ("0", None), ("n/a", None), (None, None), (float("nan"), None),
])
def test_normalize_imdb_id(raw: Any, expected: str | None) -> None:
    assert normalize_imdb_id(raw) == expected


# --------------------------------------------------------------------------- MovieLens formats


def test_latest_small_csv(tmp_path: Path) -> None:
    data = load_movielens(write_latest_small(tmp_path / "ml-latest-small"))
    assert data.format == "csv"
    assert data.ratings.columns.tolist() == ["user_id", "movie_id", "rating", "timestamp"]
    assert [str(t) for t in data.ratings.dtypes] == ["int32", "int32", "float32", "int64"]
    assert data.ratings["rating"].tolist() == [4.0, 5.0, 3.5, 0.5]
    movies = data.movies.set_index("movie_id")
    assert movies.loc[2, "title"] == "The Matrix" and movies.loc[2, "year"] == 1999
    assert movies.loc[3, "title"] == "The City of Lost Children (La Cité des enfants perdus)"
    assert movies.loc[1, "genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert movies.loc[4, "genres"] == [] and pd.isna(movies.loc[4, "year"])
    assert str(data.movies["year"].dtype) == "Int64"
    links = data.links.set_index("movie_id")
    assert links.loc[1, "imdb_id"] == "tt0114709" and links.loc[1, "tmdb_id"] == 862
    assert pd.isna(links.loc[4, "tmdb_id"]) and str(data.links["tmdb_id"].dtype) == "Int64"
    assert data.tags["tag"].tolist() == ["pixar", "Pixar", "fun", "cyberpunk, dystopia"]
    assert data.report.rows_skipped == 0 and data.report["ratings.csv"].rows_read == 4


def test_csv_without_links_and_tags(tmp_path: Path) -> None:
    data = load_movielens(write_latest_small(tmp_path, links=False, tags=False))
    assert data.links.empty and data.links.columns.tolist() == ["movie_id", "imdb_id", "tmdb_id"]
    assert data.tags.empty and data.tags.columns.tolist() == ["user_id", "movie_id", "tag", "timestamp"]
    assert len(data.movies) == 4


def u_item_row(movie_id: int, title: str, genres: set[str]) -> str:
    flags = ["1" if g in genres else "0" for g in sources.movielens._ML_100K_GENRES]
    return "|".join([str(movie_id), title, "01-Jan-1995", "", "http://us.imdb.com/M/title-exact?x", *flags]) + "\n"


def test_movielens_100k(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t888550871\n")
    write(tmp_path / "u.item",
          u_item_row(1, "Toy Story (1995)", {"Animation", "Children's", "Comedy"})
          + u_item_row(2, "Misérables, Les (1995)", {"Drama"})
          + u_item_row(267, "unknown", {"unknown"}), encoding="latin-1")
    data = load_movielens(tmp_path)
    assert data.format == "100k" and movielens_format(tmp_path) == "100k"
    assert data.ratings.values.tolist() == [[1, 1, 5, 874965758], [1, 2, 3, 876893171], [2, 1, 4, 888550871]]
    movies = data.movies.set_index("movie_id")
    assert movies.loc[1, "genres"] == ["Animation", "Children", "Comedy"]
    assert (movies.loc[2, "title"], movies.loc[2, "year"]) == ("Les Misérables", 1995)
    assert movies.loc[267, "title"] == "unknown" and movies.loc[267, "genres"] == []
    assert data.links.empty and data.tags.empty


def test_movielens_1m_dat(tmp_path: Path) -> None:
    write(tmp_path / "ratings.dat", "1::1::5::978300760\n1::2::3::978302109\n6040::1::4::956703932\n")
    write(tmp_path / "movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                                   "2::Misérables, Les (1995)::Drama\n", encoding="latin-1")
    data = load_movielens(tmp_path)
    assert data.format == "dat"
    assert data.ratings["user_id"].tolist() == [1, 1, 6040] and data.ratings["rating"].tolist() == [5, 3, 4]
    movies = data.movies.set_index("movie_id")
    assert movies.loc[1, "genres"] == ["Animation", "Children", "Comedy"]
    assert movies.loc[2, "title"] == "Les Misérables"


def test_10m_dat_is_utf8_and_has_tags(tmp_path: Path) -> None:
    write(tmp_path / "ratings.dat", "1::1::4.5::978300760\n")
    write(tmp_path / "movies.dat", "1::Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)::Comedy|Romance\n")
    write(tmp_path / "tags.dat", "15::1::whimsical::1215184630\n")
    data = load_movielens(tmp_path)
    assert data.movies["title"].tolist() == ["Amélie (Le Fabuleux destin d'Amélie Poulain)"]
    assert data.tags["tag"].tolist() == ["whimsical"] and data.ratings["rating"].tolist() == [4.5]


def test_folder_without_movielens(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", "")
    with pytest.raises(CatalogError, match=r"ratings\.csv \+ movies\.csv.*u\.data.*ratings\.dat") as caught:
        load_movielens(tmp_path)
    assert "notes.txt" in str(caught.value)
    with pytest.raises(CatalogError, match="not a folder"):
        load_movielens(tmp_path / "missing")


# --------------------------------------------------------------------------- malformed MovieLens files

RATINGS_HEADER = "userId,movieId,rating,timestamp\n"


@pytest.mark.parametrize(("body", "line", "field", "problem"), [
    ("1,1,4.0,964982703\n1,2,abc,964981247\n", 3, "rating", "'abc' is not a rating"),  # text in a number
    ("1,1,4.0,964982703\n1,2,,964981247\n", 3, "rating", "empty"),  # empty number
    ("1,1,4.0,964982703\n1,2,7.5,964981247\n", 3, "rating", "'7.5' is not a rating between 0.5 and 5"),
    ("1,1,4.0,964982703\nx,2,4.0,964981247\n", 3, "userId", "'x' is not a positive whole-number id"),
    ("1,1,4.0,964982703\n1,2.5,4.0,964981247\n", 3, "movieId", "'2.5' is not a positive whole-number id"),
    ("1,1,4.0,964982703\n\n1,2,4.0,964981247,9\n", 4, None, "expected 4 fields, saw 5"),
    ("1,1,4.0,964982703\n1,2,4.0\n", 3, "timestamp", "empty"),
])
def test_bad_rating_row_names_file_line_and_field(tmp_path: Path, body: str, line: int, field: str | None,
                                                  problem: str) -> None:
    folder = write_latest_small(tmp_path, ratings=RATINGS_HEADER + body)
    with pytest.raises(CatalogError) as caught:
        load_movielens(folder)
    error = caught.value
    assert (Path(error.path or "").name, error.line, error.field) == ("ratings.csv", line, field)
    assert "ratings.csv" in str(error) and f"line {line}" in str(error) and problem in str(error)
    assert "--skip-bad-rows" in str(error)


def test_skip_bad_rows_drops_and_counts(tmp_path: Path) -> None:
    body = ("1,1,4.0,964982703\n"
            "1,2,abc,964981247\n"  # line 3
            "\n"  # a blank line is not a row
            "2,1,3.5,1445714994,extra\n"  # line 5
            "2,3,0.5,1445714996\n"
            "2,4,,1445714996\n")  # line 7
    data = load_movielens(write_latest_small(tmp_path, ratings=RATINGS_HEADER + body), skip_bad_rows=True)
    assert data.ratings[["user_id", "movie_id"]].values.tolist() == [[1, 1], [2, 3]]
    assert [str(t) for t in data.ratings.dtypes] == ["int32", "int32", "float32", "int64"]
    entry = data.report["ratings.csv"]
    assert (entry.rows_read, entry.rows_skipped) == (5, 3)
    assert [p.split(":")[0] for p in entry.problems] == ["line 3, field 'rating'", "line 5", "line 7, field 'rating'"]
    assert data.report.rows_skipped == 3


def test_clean_ratings_take_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read = sources.movielens._read_table
    seen: list[str] = []

    def recording_read(path: Path, *args: Any, **kwargs: Any) -> Any:
        seen.append(Path(path).name)
        return read(path, *args, **kwargs)

    monkeypatch.setattr(sources.movielens, "_read_table", recording_read)
    load_movielens(write_latest_small(tmp_path))
    assert "ratings.csv" not in seen and "movies.csv" in seen


def test_many_bad_rows_keep_the_first_few_problems(tmp_path: Path) -> None:
    body = "".join(f"1,{i},{'x' if i % 2 else '4.0'},964982703\n" for i in range(1, 41))
    data = load_movielens(write_latest_small(tmp_path, ratings=RATINGS_HEADER + body), skip_bad_rows=True)
    entry = data.report["ratings.csv"]
    assert (entry.rows_read, entry.rows_skipped, len(data.ratings)) == (40, 20, 20)
    assert len(entry.problems) == sources.MAX_PROBLEMS_KEPT and entry.problems[0].startswith("line 2,")


def test_duplicate_movie_id(tmp_path: Path) -> None:
    folder = write_latest_small(tmp_path)
    with open(folder / "movies.csv", "a", encoding="utf-8") as handle:
        handle.write("2,Another Matrix (2003),Action\n")
    with pytest.raises(CatalogError, match=r"line 6, field 'movieId': '2' repeats the movieId at line 3"):
        load_movielens(folder)
    data = load_movielens(folder, skip_bad_rows=True)
    assert data.movies.set_index("movie_id").loc[2, "title"] == "The Matrix"
    assert data.report["movies.csv"].rows_skipped == 1


def test_missing_column_names_the_header(tmp_path: Path) -> None:
    folder = write_latest_small(tmp_path, ratings="userId,movieId,stars,timestamp\n1,1,4,1\n")
    with pytest.raises(CatalogError, match=r"line 1 \(header\): missing column\(s\) \['rating'\]") as caught:
        load_movielens(folder)
    assert (caught.value.line, caught.value.field) == (1, "rating")


def test_bad_link_and_tag_rows(tmp_path: Path) -> None:
    folder = write_latest_small(tmp_path)
    write(folder / "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n2,tt-what,603\n3,0112682,abc\n")
    with pytest.raises(CatalogError, match=r"links\.csv, line 3, field 'imdbId'"):
        load_movielens(folder)
    data = load_movielens(folder, skip_bad_rows=True)
    assert data.links["movie_id"].tolist() == [1] and data.report["links.csv"].rows_skipped == 2


def test_bad_100k_and_1m_rows(tmp_path: Path) -> None:
    ml100k = tmp_path / "ml-100k"
    write(ml100k / "u.data", "1\t1\t5\t874965758\n1\t2\tfive\t876893171\n")
    write(ml100k / "u.item", u_item_row(1, "Toy Story (1995)", {"Comedy"}) + u_item_row(2, "GoldenEye (1995)", set()))
    with pytest.raises(CatalogError) as caught:
        load_movielens(ml100k)
    assert (Path(caught.value.path or "").name, caught.value.line, caught.value.field) == ("u.data", 2, "rating")

    ml1m = tmp_path / "ml-1m"
    write(ml1m / "ratings.dat", "1::1::5::978300760\n")
    write(ml1m / "movies.dat", "1::Toy Story (1995)::Comedy\nx::GoldenEye (1995)::Action\n")
    with pytest.raises(CatalogError) as caught:
        load_movielens(ml1m)
    assert (Path(caught.value.path or "").name, caught.value.line, caught.value.field) == ("movies.dat", 2, "MovieID")


# --------------------------------------------------------------------------- TMDB API JSON lines


def tmdb_objects() -> list[dict[str, Any]]:
    cast = [{"name": f"Actor {i}", "order": i} for i in range(sources.CAST_KEPT + 2)][::-1]
    return [
        {"id": 862, "imdb_id": "tt0114709", "title": "Toy Story", "overview": "Led by Woody, Andy's toys...",
         "tagline": "", "genres": [{"id": 16, "name": "Animation"}], "keywords": {"keywords": [{"name": "toy"}]},
         "credits": {"cast": cast, "crew": [{"job": "Director", "name": "John Lasseter"},
                                            {"job": "Screenplay", "name": "Joss Whedon"}]},
         "reviews": {"results": [{"content": "A classic. "}, {"content": ""}]}, "poster_path": "/rhI.jpg",
         "popularity": 52.6, "vote_average": 7.8, "vote_count": 6995, "release_date": "1995-10-30"},
        {"id": 603, "imdb_id": "tt0133093", "title": "The Matrix", "overview": "",
         "keywords": {"results": [{"name": "hacker"}]}, "reviews": [{"content": "Whoa."}],
         "credits": {"crew": [{"job": "Director", "name": "Lana Wachowski"},
                              {"job": "Director", "name": "Lilly Wachowski"}]}},
        {"id": 902, "imdb_id": None, "title": "The City of Lost Children", "keywords": [{"name": "dream"}],
         "popularity": None, "release_date": ""},
    ]


@pytest.mark.parametrize("gzipped", [True, False])
def test_tmdb_jsonl(tmp_path: Path, gzipped: bool) -> None:
    text = "\n".join(json.dumps(o) for o in tmdb_objects()) + "\n\n"
    path = tmp_path / ("movies.jsonl.gz" if gzipped else "movies.jsonl")
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    records = load_tmdb_jsonl(path)
    assert sorted(records) == [603, 862, 902]
    toy = records[862]
    assert (toy.title, toy.imdb_id, toy.overview, toy.tagline) == ("Toy Story", "tt0114709",
                                                                   "Led by Woody, Andy's toys...", None)
    assert toy.cast == [f"Actor {i}" for i in range(sources.CAST_KEPT)] and toy.directors == ["John Lasseter"]
    assert toy.writers == ["Joss Whedon"]
    assert (toy.genres, toy.keywords, toy.reviews) == (["Animation"], ["toy"], ["A classic."])
    assert (toy.popularity, toy.vote_average, toy.vote_count, toy.release_date) == (52.6, 7.8, 6995, "1995-10-30")
    matrix = records[603]
    assert matrix.keywords == ["hacker"] and matrix.reviews == ["Whoa."] and matrix.overview is None
    assert matrix.directors == ["Lana Wachowski", "Lilly Wachowski"] and matrix.cast == []
    assert records[902].keywords == ["dream"] and records[902].imdb_id is None
    assert records[902].popularity is None and records[902].release_date is None


def test_tmdb_jsonl_bad_lines(tmp_path: Path) -> None:
    lines = [json.dumps(tmdb_objects()[0]), '{"id": 603, "title": "The Matr', json.dumps({"title": "no id"}),
             "[1, 2]", json.dumps(tmdb_objects()[2])]
    path = write(tmp_path / "tmdb.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(CatalogError, match=r"tmdb\.jsonl, line 2: not valid JSON") as caught:
        load_tmdb_jsonl(path)
    assert (caught.value.line, caught.value.field) == (2, None)
    report = LoadReport()
    records = load_tmdb_jsonl(path, skip_bad_rows=True, report=report)
    assert sorted(records) == [862, 902]
    entry = report["tmdb.jsonl"]
    assert (entry.rows_read, entry.rows_skipped) == (5, 3)
    assert entry.problems[1].startswith("line 3, field 'id': missing")


# --------------------------------------------------------------------------- movies_metadata.csv

METADATA_HEADER = ["adult", "belongs_to_collection", "budget", "genres", "homepage", "id", "imdb_id",
                   "original_language", "original_title", "overview", "popularity", "poster_path",
                   "production_companies", "release_date", "tagline", "title", "video", "vote_average", "vote_count"]


def metadata_row(**values: str) -> list[str]:
    return [values.get(name, "") for name in METADATA_HEADER]


def write_metadata(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(METADATA_HEADER)
        writer.writerows(rows)
    return path


GARBAGE_ROW = metadata_row(adult=" - Written by Ørnås", budget="/ff9qCepilowshEtG2GYWwzt2bs4.jpg",
                           genres="[{'name': 'Carousel Productions', 'id': 11176}]", id="1997-08-20",
                           imdb_id="0", original_language="104.0")


def metadata_rows() -> list[list[str]]:
    return [
        metadata_row(adult="False", id="862.0", imdb_id="tt0114709", title="Toy Story",
                     genres="[{'id': 16, 'name': 'Animation'}, {'id': 35, 'name': 'Comedy'}]",
                     overview="Led by Woody,\nAndy's toys live happily.", popularity="21.946943",
                     poster_path="/rhI.jpg", release_date="10/30/1995", video="FALSE", vote_average="7.7",
                     vote_count="5415.0"),
        metadata_row(adult="False", id="603", imdb_id="tt0133093", title="The Matrix", genres="[]",
                     overview="No overview found.", popularity="nan", tagline="Welcome to the Real World.",
                     release_date="1999-03-30", vote_count=""),
        GARBAGE_ROW,
        metadata_row(id="862.0", title="Toy Story (a repeat)", overview="ignored"),
        metadata_row(id="902", title="The City of Lost Children", genres="not a literal [", overview=" ",
                     popularity="Beware Of Frost Bites"),
    ]


def test_movies_metadata(tmp_path: Path) -> None:
    path = write_metadata(tmp_path / "movies_metadata.csv", [r for r in metadata_rows() if r is not GARBAGE_ROW])
    records = load_movies_metadata(path)
    assert sorted(records) == [603, 862, 902]
    toy = records[862]
    assert (toy.title, toy.imdb_id, toy.genres) == ("Toy Story", "tt0114709", ["Animation", "Comedy"])
    assert toy.overview == "Led by Woody,\nAndy's toys live happily."
    assert (toy.popularity, toy.vote_count, toy.release_date) == (21.946943, 5415, "1995-10-30")
    matrix = records[603]
    assert (matrix.overview, matrix.popularity, matrix.vote_count) == (None, None, None)
    assert matrix.tagline == "Welcome to the Real World." and matrix.genres == []
    assert records[902].genres == [] and records[902].overview is None and records[902].popularity is None


def test_movies_metadata_garbage_id(tmp_path: Path) -> None:
    path = write_metadata(tmp_path / "movies_metadata.csv", metadata_rows())
    with pytest.raises(CatalogError, match=r"line 5, field 'id': '1997-08-20' is not a TMDB id") as caught:
        load_movies_metadata(path)  # line 5: the first row's overview holds a newline
    assert (caught.value.line, caught.value.field) == (5, "id")
    report = LoadReport()
    records = load_movies_metadata(path, skip_bad_rows=True, report=report)
    assert sorted(records) == [603, 862, 902] and records[862].title == "Toy Story"
    assert (report["movies_metadata.csv"].rows_read, report["movies_metadata.csv"].rows_skipped) == (5, 1)


# --------------------------------------------------------------------------- reviews


@pytest.mark.parametrize(("header", "rows", "key_type", "keys"), [
    ("movieId,text,rating", ["1,Great fun.,4.5", "2,Mind-bending.,"], "movieId", ["1", "2"]),
    ("imdb_id,review", ["tt0114709,Great fun.", "114709,Still great.", "0133093.0,Whoa."], "imdbId",
     ["tt0114709", "tt0114709", "tt0133093"]),
    ("TMDB_ID,content,score", ["862,Great fun.,8", "603.0,Whoa.,10"], "tmdbId", ["862", "603"]),
])
def test_reviews_each_id_type(tmp_path: Path, header: str, rows: list[str], key_type: str, keys: list[str]) -> None:
    path = write(tmp_path / "reviews.csv", "\n".join([header, *rows]) + "\n")
    frame = load_reviews(path)
    assert frame.columns.tolist() == ["key_type", "key", "text", "rating"]
    assert frame["key_type"].unique().tolist() == [key_type] and frame["key"].tolist() == keys
    assert frame["rating"].dtype == np.float64


def test_reviews_text_rating_and_cleanup(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews.csv",
                 'imdbId,source,rating,text\n'
                 'tt0114709,aclImdb,10,"Fun.<br /><br />A classic\x96 really\x85"\n'
                 'tt0114709,imdb,,"   "\n'
                 'tt0133093,imdb,,Whoa.\n')
    frame = load_reviews(path)
    assert frame["text"].tolist() == ["Fun.\n\nA classic\u2013 really\u2026", "Whoa."]
    assert frame["rating"].iloc[0] == 10 and np.isnan(frame["rating"].iloc[1])
    assert clean_review_text(pd.Series([" <BR/>x "])).tolist() == ["x"]


def test_reviews_named_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "film,body_text\n862,Great fun.\n")
    frame = load_reviews(path, id_column="film", text_column="body_text", key_type="tmdbId")
    assert frame[["key_type", "key", "text"]].values.tolist() == [["tmdbId", "862", "Great fun."]]
    with pytest.raises(CatalogError, match="pass key_type="):
        load_reviews(path, id_column="film", text_column="body_text")


def test_reviews_without_usable_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "film,opinion\n862,Great fun.\n")
    with pytest.raises(CatalogError, match=r"r\.csv: no id column; it has \['film', 'opinion'\].*movieId, imdbId or "
                                           r"tmdbId"):
        load_reviews(path)
    path = write(tmp_path / "r.csv", "imdbId,opinion\ntt0114709,Great fun.\n")
    with pytest.raises(CatalogError, match=r"no review text column; it has \['imdbId', 'opinion'\].*text, review or"):
        load_reviews(path)


def test_reviews_bad_id_counts_physical_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews.csv",
                 'imdbId,text\ntt0114709,"first line\nsecond line"\nnot-an-id,Whoa.\ntt0133093,Fine.\n')
    with pytest.raises(CatalogError) as caught:
        load_reviews(path)
    assert (caught.value.line, caught.value.field) == (4, "imdbId") and "'not-an-id'" in str(caught.value)
    report = LoadReport()
    frame = load_reviews(path, skip_bad_rows=True, report=report)
    assert frame["key"].tolist() == ["tt0114709", "tt0133093"]
    assert report["reviews.csv"].rows_skipped == 1 and report["reviews.csv"].problems[0].startswith("line 4")


# --------------------------------------------------------------------------- posters


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff")
    return path


def test_poster_folder_by_each_id_kind(tmp_path: Path) -> None:
    for name in ["1.jpg", "tmdb603.jpg", "tt0112682.png", "sub/4.JPEG", "cover.jpg", "readme.txt"]:
        touch(tmp_path / "posters" / name)
    posters = load_posters(tmp_path / "posters")
    assert isinstance(posters, PosterSource) and len(posters) == 4
    assert posters[("movieId", "1")] == str((tmp_path / "posters" / "1.jpg").absolute())
    assert str(posters.lookup(movie_id=2, tmdb_id=603)).endswith("tmdb603.jpg")
    assert str(posters.lookup(movie_id=3, imdb_id="tt0112682")).endswith("tt0112682.png")
    assert str(posters.lookup(movie_id=4)).endswith("4.JPEG") and posters.lookup(movie_id=5) is None


def test_poster_folder_with_index(tmp_path: Path) -> None:
    folder = tmp_path / "posters"
    touch(folder / "images" / "1.jpg")
    touch(folder / "images" / "x.jpg")
    write(folder / "posters_index.csv", "file,movieId,imdbId,tmdbId\nimages/1.jpg,1,0114709,862\n"
                                        "images/x.jpg,,0133093,603\n")
    posters = load_posters(folder)
    assert dict(posters) == {("movieId", "1"): str((folder / "images" / "1.jpg").absolute()),
                             ("imdbId", "tt0133093"): str((folder / "images" / "x.jpg").absolute())}
    assert str(posters.lookup(movie_id=2, imdb_id="tt0133093", tmdb_id=603)).endswith("x.jpg")


def test_poster_url_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "urls.csv", "id,url\n1,https://img.example/1.jpg\n2,http://img.example/2.jpg\n")
    assert load_posters(path).lookup(movie_id=2) == "http://img.example/2.jpg"
    path = write(tmp_path / "tmdb.csv", "tmdb_id,poster_path\n862,/rhI.jpg\n")
    assert load_posters(path)[("tmdbId", "862")] == "https://image.tmdb.org/t/p/w500/rhI.jpg"
    path = write(tmp_path / "bad.csv", "name,where\nx,y\n")
    with pytest.raises(CatalogError, match=r"it has columns \['name', 'where'\] and needs an id column"):
        load_posters(path)


def test_poster_index_naming_a_missing_file(tmp_path: Path) -> None:
    folder = tmp_path / "posters"
    touch(folder / "images" / "1.jpg")
    write(folder / "posters_index.csv", "file,movieId\nimages/1.jpg,1\nimages/2.jpg,2\n")
    with pytest.raises(CatalogError) as caught:
        load_posters(folder)
    assert (caught.value.line, caught.value.field) == (3, "file") and "does not exist" in str(caught.value)
    report = LoadReport()
    assert len(load_posters(folder, skip_bad_rows=True, report=report)) == 1
    assert report["posters_index.csv"].rows_skipped == 1


# --------------------------------------------------------------------------- the real data


def test_real_movielens(shared_data: Path) -> None:
    started = time.perf_counter()
    data = load_movielens(shared_data / "ml-latest-small")
    assert time.perf_counter() - started < 5
    assert (len(data.movies), len(data.ratings), len(data.tags), len(data.links)) == (9742, 100836, 3683, 9742)
    assert data.ratings["movie_id"].nunique() == 9724 and data.links["tmdb_id"].isna().sum() == 8
    movies = data.movies.set_index("movie_id")
    assert (movies.loc[2571, "title"], movies.loc[2571, "year"]) == ("The Matrix", 1999)
    assert movies["genres"].map(len).eq(0).sum() == 34  # "(no genres listed)"
    assert data.report.rows_skipped == 0


def test_real_tmdb_sources(shared_data: Path) -> None:
    api = load_tmdb_jsonl(shared_data / "tmdb" / "tmdb_api_movies.jsonl.gz")
    assert len(api) == 2946 and api[862].directors == ["John Lasseter"] and "Tom Hanks" in api[862].cast
    path = shared_data / "tmdb" / "movies_metadata.csv"
    metadata = load_movies_metadata(path)
    with open(path, newline="", encoding="utf-8") as fh:  # the file's own distinct ids (one is repeated)
        ids = {int(float(row["id"])) for row in csv.DictReader(fh)}
    assert len(metadata) == len(ids) > 4000
    assert metadata[862].genres == ["Animation", "Comedy", "Family"] and metadata[862].release_date == "1995-10-30"


def test_real_reviews_load_fast(shared_data: Path) -> None:
    started = time.perf_counter()
    frame = load_reviews(shared_data / "reviews" / "reviews.csv")
    assert time.perf_counter() - started < 10
    assert len(frame) == 43815 and frame["key"].nunique() == 3976
    assert set(frame["key_type"]) == {"imdbId"} and frame["key"].str.fullmatch(r"tt\d{7,}").all()
    assert not frame["text"].str.contains("<br", regex=False).any()


def test_real_posters(shared_data: Path) -> None:
    posters = load_posters(shared_data / "posters")
    files = list((shared_data / "posters" / "images").glob("*.jpg"))
    assert len(posters) == len(files) > 4800 and Path(posters.lookup(movie_id=1) or "").is_file()
