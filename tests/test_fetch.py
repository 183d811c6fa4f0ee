"""`index.fetch` against a real HTTP server on 127.0.0.1: ranges, dropped connections, a fake TMDB API."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from index.errors import FetchError
from index.fetch import (
    HTTPStatusError,
    download,
    fetch_metadata,
    fetch_movielens,
    fetch_posters,
    fetch_tmdb,
    parse_md5_file,
    retrying_session,
)

API_KEY = "test-key-123"


@dataclass
class ServerState:
    """What the fake server serves and what it saw; tests set the first part and read the second."""

    root: Path
    drop_after: dict[str, int] = field(default_factory=dict)  # url path -> bytes sent before hanging up, once
    ignore_range: set[str] = field(default_factory=set)
    fail_once_with_503: set[str] = field(default_factory=set)
    tmdb_movies: dict[int, dict[str, Any]] = field(default_factory=dict)
    tmdb_rate_limit_once: bool = False
    tmdb_fail_ids: set[int] = field(default_factory=set)  # answered HTTP 400
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, prefix: str) -> list[tuple[str, dict[str, str]]]:
        with self.lock:
            return [r for r in self.requests if r[0].startswith(prefix)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state
        with state.lock:
            state.requests.append((self.path, dict(self.headers.items())))
        path = urlsplit(self.path).path
        if match := re.fullmatch(r"/3/movie/(\d+)", path):
            self._tmdb(int(match.group(1)), parse_qs(urlsplit(self.path).query))
        else:
            self._file(path)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _tmdb(self, tmdb_id: int, query: dict[str, list[str]]) -> None:
        state = self.server.state
        json_type = {"Content-Type": "application/json"}
        if query.get("api_key") != [API_KEY]:
            self._send(401, b'{"status_code": 7, "status_message": "Invalid API key"}', json_type)
            return
        with state.lock:
            rate_limited, state.tmdb_rate_limit_once = state.tmdb_rate_limit_once, False
        if rate_limited:
            self._send(429, b'{"status_code": 25}', {**json_type, "Retry-After": "0"})
        elif tmdb_id in state.tmdb_fail_ids:
            self._send(400, b'{"status_code": 22}', json_type)
        elif tmdb_id in state.tmdb_movies:
            self._send(200, json.dumps(state.tmdb_movies[tmdb_id]).encode(), json_type)
        else:
            self._send(404, b'{"status_code": 34}', json_type)

    def _file(self, path: str) -> None:
        state = self.server.state
        file = state.root / path.lstrip("/")
        if not file.is_file():
            self._send(404, b"not found")
            return
        with state.lock:
            fail = path in state.fail_once_with_503
            state.fail_once_with_503.discard(path)
        if fail:
            self._send(503, b"busy")
            return
        data = file.read_bytes()
        total = len(data)
        range_match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if range_match and path not in state.ignore_range:
            start = int(range_match.group(1))
            end = int(range_match.group(2)) if range_match.group(2) else total - 1
            if start >= total:
                self._send(416, b"", {"Content-Range": f"bytes */{total}"})
                return
            body = data[start:end + 1]
            status, headers = 206, {"Content-Range": f"bytes {start}-{start + len(body) - 1}/{total}"}
        else:
            body, status, headers = data, 200, {}
        with state.lock:
            drop_after = state.drop_after.pop(path, None)
        if drop_after is None:
            self._send(status, body, headers)
            return
        # announce the whole body, send part of it, hang up: what a flaky connection looks like
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body[:drop_after])
        self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ServerState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@dataclass
class FakeServer:
    url: str
    state: ServerState

    def put(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; returns its URL."""
        file = self.state.root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
        return f"{self.url}/{path.lstrip('/')}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeServer]:
    """A real HTTP server on 127.0.0.1 (a free port) serving files from a temp dir and a fake TMDB API."""
    state = ServerState(root=tmp_path / "served")
    state.root.mkdir()
    httpd = _Server(state)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield FakeServer(url=f"http://127.0.0.1:{httpd.server_address[1]}", state=state)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def session() -> requests.Session:
    """The production session, without backoff sleeps."""
    return retrying_session(retries=2, backoff_factor=0)


def _movielens_zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
    return buffer.getvalue()


SMALL_RELEASE = {
    "ml-latest-small/ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n",
    "ml-latest-small/movies.csv": "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
                                  "3,Grumpier Old Men (1995),Comedy|Romance\n",
    "ml-latest-small/links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n3,0113228,15602\n",
}
MOVIELENS_DIR = "datasets/movielens"


# --- download -------------------------------------------------------------------------------------------


def test_download_verifies_checksums_and_renames(server: FakeServer, tmp_path: Path,
                                                 session: requests.Session) -> None:
    data = bytes(range(256)) * 400
    url = server.put("files/blob.bin", data)
    dest = tmp_path / "out" / "blob.bin"

    got = download(url, dest, expected_md5=hashlib.md5(data).hexdigest(),
                   expected_sha256=hashlib.sha256(data).hexdigest().upper(), session=session, progress=False)

    assert got == dest and dest.read_bytes() == data
    assert not dest.with_name("blob.bin.part").exists()
    # already there and verified: no second request
    download(url, dest, expected_md5=hashlib.md5(data).hexdigest(), session=session, progress=False)
    assert len(server.state.requests_to("/files/blob.bin")) == 1


def test_download_resumes_after_dropped_connection(server: FakeServer, tmp_path: Path,
                                                   session: requests.Session) -> None:
    data = bytes(i * 7 % 251 for i in range(300_000))
    url = server.put("files/big.bin", data)
    server.state.drop_after["/files/big.bin"] = 100_000
    dest = tmp_path / "big.bin"

    download(url, dest, expected_sha256=hashlib.sha256(data).hexdigest(), chunk_size=8192,
             session=session, progress=False)

    first, second = server.state.requests_to("/files/big.bin")
    assert "Range" not in first[1]
    resumed_at = re.fullmatch(r"bytes=(\d+)-", second[1]["Range"])
    assert resumed_at and 0 < int(resumed_at.group(1)) <= 100_000  # a chunk cut short may be read again
    assert dest.read_bytes() == data


def test_download_resumes_a_part_file_left_by_an_earlier_run(server: FakeServer, tmp_path: Path,
                                                             session: requests.Session) -> None:
    data = b"0123456789" * 5000
    url = server.put("files/left.bin", data)
    dest = tmp_path / "left.bin"
    dest.with_name("left.bin.part").write_bytes(data[:12_345])

    download(url, dest, expected_md5=hashlib.md5(data).hexdigest(), session=session, progress=False)

    [(_, headers)] = server.state.requests_to("/files/left.bin")
    assert headers["Range"] == "bytes=12345-"
    assert dest.read_bytes() == data


def test_download_restarts_when_server_ignores_range(server: FakeServer, tmp_path: Path,
                                                     session: requests.Session) -> None:
    data = b"abcdefghij" * 3000
    url = server.put("files/norange.bin", data)
    server.state.ignore_range.add("/files/norange.bin")
    dest = tmp_path / "norange.bin"
    dest.with_name("norange.bin.part").write_bytes(b"stale bytes from some other file")

    download(url, dest, expected_md5=hashlib.md5(data).hexdigest(), session=session, progress=False)

    assert dest.read_bytes() == data


def test_download_of_a_complete_part_file_finishes_without_body(server: FakeServer, tmp_path: Path,
                                                               session: requests.Session) -> None:
    data = b"complete" * 100
    url = server.put("files/done.bin", data)
    dest = tmp_path / "done.bin"
    dest.with_name("done.bin.part").write_bytes(data)

    download(url, dest, expected_md5=hashlib.md5(data).hexdigest(), session=session, progress=False)

    assert dest.read_bytes() == data


def test_download_wrong_checksum_raises_and_leaves_nothing(server: FakeServer, tmp_path: Path,
                                                           session: requests.Session) -> None:
    url = server.put("files/x.bin", b"hello world")
    dest = tmp_path / "x.bin"

    with pytest.raises(FetchError, match=r"expected md5 0{32}, got 5eb63bbbe01eeed093cb22bb8f5acdc3"):
        download(url, dest, expected_md5="0" * 32, session=session, progress=False)

    assert not dest.exists()
    assert not dest.with_name("x.bin.part").exists()


def test_download_missing_file_raises_http_status_error(server: FakeServer, tmp_path: Path,
                                                        session: requests.Session) -> None:
    with pytest.raises(HTTPStatusError) as info:
        download(f"{server.url}/files/nope.bin", tmp_path / "nope.bin", session=session, progress=False)
    assert info.value.status == 404
    assert not (tmp_path / "nope.bin").exists()


def test_download_network_error_names_url_and_offline_option(tmp_path: Path,
                                                             session: requests.Session) -> None:
    with socket.socket() as sock:  # bound to learn a free port number, closed so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ml-latest-small.zip"

    with pytest.raises(FetchError, match="--data DIR") as info:
        download(url, tmp_path / "x.zip", session=session, progress=False)

    assert url in str(info.value)
    assert not (tmp_path / "x.zip").exists()


def test_session_retries_server_errors(server: FakeServer, tmp_path: Path, session: requests.Session) -> None:
    url = server.put("files/flaky.bin", b"worth the wait")
    server.state.fail_once_with_503.add("/files/flaky.bin")

    download(url, tmp_path / "flaky.bin", session=session, progress=False)

    assert len(server.state.requests_to("/files/flaky.bin")) == 2
    assert (tmp_path / "flaky.bin").read_bytes() == b"worth the wait"


# --- MovieLens ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("md5_style", ["bsd", "gnu"])
def test_fetch_movielens_downloads_verifies_and_extracts(server: FakeServer, tmp_path: Path,
                                                         session: requests.Session, md5_style: str) -> None:
    archive = _movielens_zip(SMALL_RELEASE)
    md5 = hashlib.md5(archive).hexdigest()
    server.put(f"{MOVIELENS_DIR}/ml-latest-small.zip", archive)
    md5_text = f"MD5 (ml-latest-small.zip) = {md5}\n" if md5_style == "bsd" else f"{md5}  ml-latest-small.zip\n"
    server.put(f"{MOVIELENS_DIR}/ml-latest-small.zip.md5", md5_text.encode())
    data_dir = tmp_path / "data"

    folder = fetch_movielens("ml-latest-small", data_dir, base_url=f"{server.url}/{MOVIELENS_DIR}",
                             session=session, progress=False)

    assert folder == data_dir / "ml-latest-small"
    assert (folder / "ratings.csv").read_text() == SMALL_RELEASE["ml-latest-small/ratings.csv"]
    assert sorted(p.name for p in folder.iterdir()) == ["links.csv", "movies.csv", "ratings.csv"]
    assert sorted(p.name for p in data_dir.iterdir()) == ["ml-latest-small"]  # no zip, no staging left
    seen = len(server.state.requests)
    assert fetch_movielens("ml-latest-small", data_dir, base_url=f"{server.url}/{MOVIELENS_DIR}",
                           session=session, progress=False) == folder
    assert len(server.state.requests) == seen  # idempotent: nothing downloaded again


def test_fetch_movielens_without_published_md5_warns_and_goes_on(
        server: FakeServer, tmp_path: Path, session: requests.Session, caplog: pytest.LogCaptureFixture) -> None:
    server.put(f"{MOVIELENS_DIR}/ml-100k.zip", _movielens_zip({"ml-100k/u.data": "196\t242\t3\t881250949\n"}))

    with caplog.at_level(logging.WARNING, logger="index.fetch"):
        folder = fetch_movielens("ml-100k", tmp_path, base_url=f"{server.url}/{MOVIELENS_DIR}",
                                 session=session, progress=False)

    assert (folder / "u.data").read_text().startswith("196\t242")
    assert "no published checksum" in caplog.text


def test_fetch_movielens_wrong_md5_raises_and_leaves_nothing(server: FakeServer, tmp_path: Path,
                                                             session: requests.Session) -> None:
    server.put(f"{MOVIELENS_DIR}/ml-latest-small.zip", _movielens_zip(SMALL_RELEASE))
    server.put(f"{MOVIELENS_DIR}/ml-latest-small.zip.md5", b"MD5 (ml-latest-small.zip) = " + b"a" * 32)
    data_dir = tmp_path / "data"

    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_movielens("ml-latest-small", data_dir, base_url=f"{server.url}/{MOVIELENS_DIR}",
                        session=session, progress=False)

    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("evil_name", ["ml-latest-small/../../evil.txt", "/tmp/cinefuse-evil.txt",
                                       "ml-latest-small\\..\\..\\evil.txt"])
def test_fetch_movielens_rejects_zip_slip(server: FakeServer, tmp_path: Path, session: requests.Session,
                                          evil_name: str) -> None:
    archive = _movielens_zip({**SMALL_RELEASE, evil_name: "pwned"})
    server.put(f"{MOVIELENS_DIR}/ml-latest-small.zip", archive)
    server.put(f"{MOVIELENS_DIR}/ml-latest-small.zip.md5", hashlib.md5(archive).hexdigest().encode())
    data_dir = tmp_path / "deep" / "data"

    with pytest.raises(FetchError, match="outside"):
        fetch_movielens("ml-latest-small", data_dir, base_url=f"{server.url}/{MOVIELENS_DIR}",
                        session=session, progress=False)

    assert not (data_dir / "ml-latest-small").exists()
    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*"))
    assert [p.name for p in data_dir.iterdir()] == ["ml-latest-small.zip"]  # kept for inspection only


def test_fetch_movielens_rejects_unknown_release(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="ml-latest-small"):
        fetch_movielens("ml-999", tmp_path)  # type: ignore[arg-type]


def test_parse_md5_file_styles() -> None:
    digest = "0123456789abcdef0123456789abcdef"
    assert parse_md5_file(f"MD5 (ml-25m.zip) = {digest}\n") == digest
    assert parse_md5_file(f"{digest.upper()}  ml-25m.zip\n") == digest
    assert parse_md5_file(f"{digest} *ml-25m.zip") == digest
    assert parse_md5_file("<html>Not here</html>") is None


# --- TMDB -----------------------------------------------------------------------------------------------


def _tmdb_movie(tmdb_id: int, title: str) -> dict[str, Any]:
    """A movie object as the TMDB API returns it with keywords, credits, reviews, similar, recommendations."""
    return {
        "id": tmdb_id, "title": title, "overview": f"The plot of {title}.", "poster_path": f"/{tmdb_id}.jpg",
        "genres": [{"id": 16, "name": "Animation"}],
        "keywords": {"id": tmdb_id, "keywords": [{"id": 931, "name": "jealousy"}]},
        "credits": {"id": tmdb_id, "cast": [{"name": "Tom Hanks", "order": 0}],
                    "crew": [{"name": "John Lasseter", "job": "Director"}]},
        "reviews": {"id": tmdb_id, "page": 1, "results": [{"author": "a", "content": "Great."}],
                    "total_pages": 1, "total_results": 1},
        "similar": {"page": 1, "results": [{"id": 605, "title": "x"}, {"id": 604, "title": "y"}]},
        "recommendations": {"page": 1, "results": [{"id": 863, "title": "Toy Story 2"}]},
    }


def _read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _movie_requests(server: FakeServer) -> list[str]:
    return [urlsplit(path).path for path, _ in server.state.requests_to("/3/movie/")]


def test_fetch_tmdb_writes_jsonl_gz_and_resumes(server: FakeServer, tmp_path: Path,
                                                session: requests.Session) -> None:
    server.state.tmdb_movies = {862: _tmdb_movie(862, "Toy Story"), 603: _tmdb_movie(603, "The Matrix"),
                                13: _tmdb_movie(13, "Forrest Gump")}
    server.state.tmdb_rate_limit_once = True
    out = tmp_path / "tmdb" / "tmdb_api_movies.jsonl.gz"

    fetch_tmdb([862, 603, 999_999, 862], out, api_key=API_KEY, base_url=f"{server.url}/3",
               session=session, progress=False)

    movies = {m["id"]: m for m in _read_jsonl_gz(out)}
    assert sorted(movies) == [603, 862]
    toy = movies[862]
    assert toy["keywords"] == [{"id": 931, "name": "jealousy"}]
    assert toy["credits"]["cast"][0]["name"] == "Tom Hanks" and "id" not in toy["credits"]
    assert toy["reviews"] == [{"author": "a", "content": "Great."}]
    assert toy["similar"] == [605, 604] and toy["recommendations"] == [863]
    # one 429 (Retry-After: 0), retried; the duplicate id fetched once
    assert _movie_requests(server) == ["/3/movie/862", "/3/movie/862", "/3/movie/603", "/3/movie/999999"]
    path, _ = server.state.requests_to("/3/movie/")[0]
    query = parse_qs(urlsplit(path).query)
    assert query["append_to_response"] == ["keywords,credits,reviews,similar,recommendations"]

    server.state.requests.clear()
    fetch_tmdb([862, 603, 999_999, 13], out, api_key=API_KEY, base_url=f"{server.url}/3",
               session=session, progress=False)

    assert _movie_requests(server) == ["/3/movie/13"]  # fetched and 404 ids are not asked again
    assert sorted(m["id"] for m in _read_jsonl_gz(out)) == [13, 603, 862]
    assert sorted(p.name for p in out.parent.iterdir()) == ["tmdb_api_movies.jsonl.gz",
                                                            "tmdb_api_movies.jsonl.gz.missing"]


def test_fetch_tmdb_keeps_what_it_fetched_when_a_run_fails(server: FakeServer, tmp_path: Path,
                                                           session: requests.Session) -> None:
    server.state.tmdb_movies = {862: _tmdb_movie(862, "Toy Story"), 603: _tmdb_movie(603, "The Matrix")}
    server.state.tmdb_fail_ids = {400}
    out = tmp_path / "movies.jsonl.gz"

    with pytest.raises(FetchError, match="HTTP 400 for movie 400") as info:
        fetch_tmdb([862, 400, 603], out, api_key=API_KEY, base_url=f"{server.url}/3",
                   session=session, progress=False)
    assert API_KEY not in str(info.value)
    assert [m["id"] for m in _read_jsonl_gz(out)] == [862]

    server.state.tmdb_fail_ids.clear()
    server.state.requests.clear()
    fetch_tmdb([862, 400, 603], out, api_key=API_KEY, base_url=f"{server.url}/3",
               session=session, progress=False)
    assert _movie_requests(server) == ["/3/movie/400", "/3/movie/603"]
    assert sorted(m["id"] for m in _read_jsonl_gz(out)) == [603, 862]


def test_fetch_tmdb_recovers_a_half_written_sidecar(server: FakeServer, tmp_path: Path,
                                                    session: requests.Session) -> None:
    server.state.tmdb_movies = {862: _tmdb_movie(862, "Toy Story"), 603: _tmdb_movie(603, "The Matrix")}
    out = tmp_path / "movies.jsonl.gz"
    # what a run killed mid-write leaves: one whole line, one cut short
    out.with_name(out.name + ".partial").write_text(json.dumps({"id": 862, "title": "Toy Story"}) + '\n{"id": 6')

    fetch_tmdb([862, 603], out, api_key=API_KEY, base_url=f"{server.url}/3", session=session, progress=False)

    assert _movie_requests(server) == ["/3/movie/603"]
    assert sorted(m["id"] for m in _read_jsonl_gz(out)) == [603, 862]
    assert not out.with_name(out.name + ".partial").exists()


def test_fetch_tmdb_without_api_key_says_to_set_it(server: FakeServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    with pytest.raises(FetchError, match="TMDB_API_KEY"):
        fetch_tmdb([862], tmp_path / "m.jsonl.gz", base_url=f"{server.url}/3", progress=False)
    assert server.state.requests == []
    assert not (tmp_path / "m.jsonl.gz").exists()


def test_fetch_tmdb_reads_key_from_env_and_reports_a_rejected_one(
        server: FakeServer, tmp_path: Path, session: requests.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    server.state.tmdb_movies = {862: _tmdb_movie(862, "Toy Story")}
    monkeypatch.setenv("TMDB_API_KEY", API_KEY)
    fetch_tmdb([862], tmp_path / "ok.jsonl.gz", base_url=f"{server.url}/3", session=session, progress=False)
    assert [m["id"] for m in _read_jsonl_gz(tmp_path / "ok.jsonl.gz")] == [862]

    monkeypatch.setenv("TMDB_API_KEY", "wrong-key")
    with pytest.raises(FetchError, match="rejected the API key") as info:
        fetch_tmdb([862], tmp_path / "bad.jsonl.gz", base_url=f"{server.url}/3", session=session,
                   progress=False)
    assert "wrong-key" not in str(info.value)


# --- posters --------------------------------------------------------------------------------------------


def test_fetch_posters_downloads_then_skips(server: FakeServer, tmp_path: Path, session: requests.Session,
                                            caplog: pytest.LogCaptureFixture) -> None:
    server.put("t/p/w185/abc.jpg", b"\xff\xd8\xff poster one")
    absolute = server.put("elsewhere/def.jpg", b"\xff\xd8\xff poster two")
    posters = {1: "/abc.jpg", 2: absolute, 3: "/missing.jpg"}
    dest = tmp_path / "posters"

    with caplog.at_level(logging.WARNING, logger="index.fetch"):
        got = fetch_posters(posters, dest, base_url=f"{server.url}/t/p/w185", session=session, progress=False)

    assert got == {1: dest / "1.jpg", 2: dest / "2.jpg"}
    assert (dest / "1.jpg").read_bytes() == b"\xff\xd8\xff poster one"
    assert (dest / "2.jpg").read_bytes() == b"\xff\xd8\xff poster two"
    assert "1 poster(s) not found" in caplog.text
    assert sorted(p.name for p in dest.iterdir()) == ["1.jpg", "2.jpg"]

    server.state.requests.clear()
    again = fetch_posters({1: "/abc.jpg", 2: absolute}, dest, base_url=f"{server.url}/t/p/w185",
                          session=session, progress=False)
    assert again == got
    assert server.state.requests == []


# --- movie metadata files -------------------------------------------------------------------------------

TMDB_5000_MOVIES = ("budget,genres,homepage,id,keywords,original_language,original_title,overview,popularity,"
                    "production_companies,production_countries,release_date,revenue,runtime,spoken_languages,status,"
                    "tagline,title,vote_average,vote_count\n"
                    '0,[],,862,"[{""id"": 931, ""name"": ""jealousy""}]",en,Toy Story,Led by Woody.,21.9,[],[],'
                    "1995-10-30,0,81,[],Released,,Toy Story,7.7,5415\n")
TMDB_5000_CREDITS = 'movie_id,title,cast,crew\n862,Toy Story,"[{""name"": ""Tom Hanks"", ""order"": 0}]",[]\n'
UDACITY = "id,original_title,cast,director,keywords,genres\n862,Toy Story,Tom Hanks|Tim Allen,John Lasseter,toy,\n"


def test_fetch_metadata_takes_the_files_it_needs(server: FakeServer, tmp_path: Path,
                                                 session: requests.Session) -> None:
    from index.sources import load_tmdb_5000_credits, load_tmdb_5000_movies, load_tmdb_movie_data

    server.put("kaggle/tmdb/tmdb-movie-metadata", _movielens_zip({
        "tmdb_5000_movies.csv": TMDB_5000_MOVIES, "nested/tmdb_5000_credits.csv": TMDB_5000_CREDITS,
        "readme.txt": "not taken"}))
    udacity_url = server.put("udacity/tmdb-movies.csv", UDACITY.encode())
    data = tmp_path / "data"
    paths = fetch_metadata(["tmdb-5000", "tmdb-movie-data"], data, kaggle_base_url=f"{server.url}/kaggle",
                           urls={"tmdb-movie-data": udacity_url}, session=session, progress=False)
    assert paths == [data / "tmdb" / "tmdb_5000_movies.csv", data / "tmdb" / "tmdb_5000_credits.csv",
                     data / "tmdb" / "tmdb-movies.csv"]
    assert sorted(p.name for p in data.iterdir()) == ["tmdb"]  # no zip, no staging left
    assert load_tmdb_5000_movies(paths[0])[862].keywords == ["jealousy"]
    assert load_tmdb_5000_credits(paths[1])[862].cast == ["Tom Hanks"]
    assert load_tmdb_movie_data(paths[2])[862].directors == ["John Lasseter"]
    seen = len(server.state.requests)
    fetch_metadata(["tmdb-5000", "tmdb-movie-data"], data, kaggle_base_url=f"{server.url}/kaggle",
                   urls={"tmdb-movie-data": udacity_url}, session=session, progress=False)
    assert len(server.state.requests) == seen  # idempotent: nothing downloaded again


def test_fetch_metadata_refuses_the_wrong_file(server: FakeServer, tmp_path: Path,
                                               session: requests.Session) -> None:
    url = server.put("udacity/tmdb-movies.csv", b"<html>Moved</html>\n")
    data = tmp_path / "data"
    with pytest.raises(FetchError, match="the downloaded tmdb-movies.csv is not tmdb_movie_data"):
        fetch_metadata(["tmdb-movie-data"], data, urls={"tmdb-movie-data": url}, session=session, progress=False)
    server.put("kaggle/carolzhangdc/imdb-5000-movie-dataset", _movielens_zip({"other.csv": "a,b\n"}))
    with pytest.raises(FetchError, match=r"holds no \['movie_metadata.csv'\]"):
        fetch_metadata(["imdb-5000"], data, kaggle_base_url=f"{server.url}/kaggle", session=session,
                       progress=False)
    with pytest.raises(FetchError, match="unknown metadata set"):
        fetch_metadata(["netflix"], data, session=session)
    assert list(data.iterdir()) == []  # nothing half-written

def test_cli_fetches_ml_32m_with_its_published_md5(server: FakeServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`cinefuse fetch movielens --release ml-32m` against a local HTTP server standing in for GroupLens (its URL
    through CINEFUSE_MOVIELENS_URL): the archive is checked against the published ml-32m.zip.md5, then unpacked."""
    from app import cli

    files = {name.replace("ml-latest-small", "ml-32m"): text for name, text in SMALL_RELEASE.items()}
    archive = _movielens_zip(files)
    server.put(f"{MOVIELENS_DIR}/ml-32m.zip", archive)
    server.put(f"{MOVIELENS_DIR}/ml-32m.zip.md5", f"{hashlib.md5(archive).hexdigest()}  ml-32m.zip\n".encode())
    monkeypatch.setenv("CINEFUSE_MOVIELENS_URL", f"{server.url}/{MOVIELENS_DIR}")
    assert cli.main(["fetch", "movielens", "--release", "ml-32m", "--dest", str(tmp_path / "data")]) == 0
    folder = tmp_path / "data" / "ml-32m"
    assert (folder / "ratings.csv").read_text() == files["ml-32m/ratings.csv"]
    server.put(f"{MOVIELENS_DIR}/ml-32m.zip.md5", b"0" * 32 + b"  ml-32m.zip\n")
    code = cli.main(["fetch", "movielens", "--release", "ml-32m", "--dest", str(tmp_path / "other")])
    assert code != 0 and not (tmp_path / "other" / "ml-32m").exists()  # a corrupt download is refused
