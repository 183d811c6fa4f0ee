"""The command line end to end on a small real subset of ../shared/data, written as a data folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import cli, data
from app.data import NO_DATA


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    capsys.readouterr()
    assert cli.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_build_summary_and_similar_toy_story_by_overview(built_store: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_json(capsys, "similar", "Toy Story (1995)", "--by", "overview", "--store", str(built_store))
    top = rows[:5]  # 15 of the 120 movies are animated: three in the top five is far above chance
    assert "Animation" in top[0]["genres"] and sum("Animation" in r["genres"] for r in top) >= 3, top
    assert "Toy Story (1995)" not in [r["title"] for r in rows]


def test_build_prints_the_coverage_of_each_field_and_its_sources(built_store: Path) -> None:
    printed = (built_store.parent / "build.out").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(printed) if line.startswith("field") and "sources" in line)
    rows = {line.split()[0]: line for line in printed[start + 1:start + 12]}
    assert list(rows) == ["overview", "directors", "cast", "keywords", "companies", "collection", "language",
                          "runtime", "poster", "reviews", "tags"]
    assert "tmdb_movie_data" in rows["directors"] and "imdb_5000" in rows["cast"]
    assert "tmdb_5000_movies" in rows["overview"] and "%" in rows["overview"]


def test_title_lookup_forgives_case_articles_and_year(built_store: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for spelling in ("toy story", "TOY STORY (1995)", "matrix, the", "the matrix"):
        assert run_json(capsys, "similar", spelling, "--store", str(built_store), "--limit", "3")


def test_search_and_filters(built_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_json(capsys, "search", "a heist that goes wrong", "--store", str(built_store), "--limit", "5")
    assert len(rows) == 5 and any("Crime" in r["genres"] for r in rows[:3]), rows
    rows = run_json(capsys, "similar", "Heat", "--by", "reviews", "--genre", "Crime", "--year", "1990-1999",
                    "--store", str(built_store))
    assert rows and all("Crime" in r["genres"] and "(199" in r["title"] for r in rows)


def test_unknown_title_says_did_you_mean(built_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli.main(["similar", "Toy Storie", "--store", str(built_store)]) in (0, 3)
    assert cli.main(["similar", "Completely Unknown Movie Title", "--store", str(built_store)]) == 3
    assert "did you mean" in capsys.readouterr().err


def test_missing_index_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["search", "anything", "--store", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cinefuse: no index at") and "cinefuse build" in err and "\n" not in err


def test_no_data_and_no_network_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "DEFAULT_HOME", tmp_path)
    monkeypatch.setenv("CINEFUSE_MOVIELENS_URL", "http://127.0.0.1:9/movielens")  # nothing listens there
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["build", "--store", str(tmp_path / "index")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == NO_DATA


def test_search_reads_the_request_and_says_why(built_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli.main(["search", "Quentin Tarantino films", "--store", str(built_store), "--json"]) == 0
    out = capsys.readouterr()
    rows = json.loads(out.out)
    assert rows and all("Quentin Tarantino" in r["why"] and r["match"] for r in rows)
    assert any(line.startswith(f"Only {len(rows)} movies here list Quentin Tarantino") for line in out.err.splitlines())
    assert cli.main(["search", "90s crime films, not Tarantino", "--store", str(built_store), "--limit", "5"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == ('movies matching "90s crime films, not Tarantino" (Crime, not by or with Quentin '
                          'Tarantino, from the 1990s):')
    assert len(printed) == 6 and all("Crime; from 199" in line for line in printed[1:])


def test_recommend_steers_as_the_chat_does(built_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = run_json(capsys, "recommend", "--like", "Heat", "--like", "Jumanji", "--store", str(built_store),
                     "--limit", "5", "--no-explore")
    newer = run_json(capsys, "recommend", "--like", "Heat", "--like", "Jumanji", "--steer", "but newer", "--store",
                     str(built_store), "--limit", "5", "--no-explore")
    years = [int(r["title"][-5:-1]) for r in newer]
    assert newer and all(y > 1995 for y in years) and years != [int(r["title"][-5:-1]) for r in plain], years
