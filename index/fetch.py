"""Download the public sources cinefuse is built from: MovieLens releases, TMDB movie objects, posters.

Every download streams to ``<dest>.part``, resumes with an HTTP ``Range`` request after an interruption,
verifies a checksum where one is published, and only then renames to ``<dest>``, so a file under its
final name is always complete. Everything here is what ``cinefuse fetch`` runs; where there is no
network, users download the files themselves and point cinefuse at them with ``--data DIR``.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

import requests
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.util.retry import Retry

from index.errors import FetchError

log = logging.getLogger(__name__)

MovieLensRelease = Literal["ml-latest-small", "ml-latest", "ml-25m", "ml-32m", "ml-100k", "ml-1m"]
MOVIELENS_BASE_URL = "https://files.grouplens.org/datasets/movielens"
TMDB_BASE_URL = "https://api.themoviedb.org/3"
TMDB_IMAGE_BASE_URL = "https://image.tmdb.org/t/p/w185"
TMDB_APPEND = "keywords,credits,reviews,similar,recommendations"
KAGGLE_BASE_URL = "https://www.kaggle.com/api/v1/datasets/download"
UDACITY_TMDB_MOVIES_URL = ("https://d17h27t6h515a5.cloudfront.net/topher/2017/October/59dd1c4c_tmdb-movies/"
                           "tmdb-movies.csv")


@dataclass(frozen=True)
class MetadataDownload:
    """Where a public movie-metadata file set comes from and where its files go in a data folder.

    ``kaggle`` is a dataset slug (``owner/name``) fetched as one zip from the Kaggle API (anonymous for
    public datasets; ``KAGGLE_USERNAME``/``KAGGLE_KEY`` are sent when set); ``url`` a plain file.
    ``files`` maps a file name in the download to its path under the data folder.
    """

    files: Mapping[str, str]
    kaggle: str | None = None
    url: str | None = None


METADATA_DOWNLOADS: dict[str, MetadataDownload] = {
    "tmdb-5000": MetadataDownload({"tmdb_5000_movies.csv": "tmdb/tmdb_5000_movies.csv",
                                   "tmdb_5000_credits.csv": "tmdb/tmdb_5000_credits.csv"},
                                  kaggle="tmdb/tmdb-movie-metadata"),
    "movies-dataset": MetadataDownload({"movies_metadata.csv": "tmdb/movies_metadata.csv"},
                                       kaggle="rounakbanik/the-movies-dataset"),
    "imdb-5000": MetadataDownload({"movie_metadata.csv": "imdb/movie_metadata.csv"},
                                  kaggle="carolzhangdc/imdb-5000-movie-dataset"),
    "tmdb-movie-data": MetadataDownload({"tmdb-movies.csv": "tmdb/tmdb-movies.csv"}, url=UDACITY_TMDB_MOVIES_URL),
}

_OFFLINE_HINT = "check your connection, or download the files yourself and pass --data DIR to work offline"
# A stream that dies this many times in a row without delivering a byte is given up on.
_MAX_STALLED_ATTEMPTS = 3
_MAX_RATE_LIMITED_RETRIES = 5


class HTTPStatusError(FetchError):
    """A server answered a download with an HTTP error status; ``status`` holds it (e.g. 404).

    Example:
        >>> HTTPStatusError("https://example.org/x.zip answered HTTP 404", status=404).status
        404
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def retrying_session(*, retries: int = 3, backoff_factor: float = 0.5) -> requests.Session:
    """A ``requests`` session that retries connection errors and 5xx answers with exponential backoff.

    HTTP 429 is deliberately not retried here: callers that talk to rate-limited APIs honour
    ``Retry-After`` themselves, so they can count and log it.

    Example:
        >>> session = retrying_session(retries=5)
        >>> session.get("https://files.grouplens.org/datasets/movielens/")  # doctest: +SKIP
        <Response [200]>
    """
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_factor,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,  # the last 5xx comes back, and becomes a FetchError naming the status
    )
    adapter = HTTPAdapter(max_retries=retry)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "cinefuse (+https://github.com/cinefuse)"
    return session


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    expected_md5: str | None = None,
    expected_sha256: str | None = None,
    chunk_size: int = 1 << 20,
    session: requests.Session | None = None,
    progress: bool = True,
    timeout: float = 60,
) -> Path:
    """Download ``url`` to ``dest``, resuming an interrupted download, and verify its checksum.

    Bytes stream to ``<dest>.part``; if that file exists (a previous run was interrupted) or the
    connection drops mid-stream, the download continues with an HTTP ``Range`` request, and starts over
    where the server ignores ``Range``. After the checksum(s) given match, the file is renamed atomically
    to ``dest``. A ``dest`` that already exists is kept when a checksum is given and matches; otherwise it
    is downloaded again. A tqdm bar shows bytes and rate unless ``progress=False``.

    Raises:
        FetchError: the network failed (the message names the URL and suggests ``--data DIR``), the
            server answered an error status (``HTTPStatusError``), or the checksum did not match (the
            partial file is removed).

    Example:
        >>> download("https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        ...          "data/ml-latest-small.zip")  # doctest: +SKIP
        PosixPath('data/ml-latest-small.zip')
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = {name: value.strip().lower() for name, value in
                (("md5", expected_md5), ("sha256", expected_sha256)) if value}
    if dest.exists() and expected and not _checksum_mismatches(dest, expected):
        log.info("%s already downloaded and verified; not downloading again", dest)
        return dest

    part = dest.with_name(dest.name + ".part")
    with _session_scope(session) as http, \
            tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                 disable=not progress, leave=False) as bar:
        stalled = 0
        while True:
            before = _size(part)
            try:
                _stream_once(http, url, part, chunk_size=chunk_size, timeout=timeout, bar=bar)
                break
            except _StreamInterrupted as exc:
                stalled = 0 if _size(part) > before else stalled + 1
                if stalled >= _MAX_STALLED_ATTEMPTS:
                    raise FetchError(
                        f"downloading {url} kept failing at byte {_size(part):,} ({exc.__cause__}); "
                        f"the partial file {part} is kept and the next run resumes from it; "
                        f"{_OFFLINE_HINT}") from exc
                log.warning("connection to %s dropped at byte %s (%s); resuming",
                            url, f"{_size(part):,}", exc.__cause__)

    mismatches = _checksum_mismatches(part, expected)
    if mismatches:
        part.unlink(missing_ok=True)
        details = "; ".join(f"expected {name} {want}, got {got}" for name, want, got in mismatches)
        raise FetchError(
            f"checksum mismatch for {url}: {details}. The partial download was removed; run the command "
            f"again to retry. If it keeps failing the file was corrupted in transit or changed upstream: "
            f"download it yourself and pass --data DIR")
    os.replace(part, dest)
    log.info("downloaded %s (%s bytes) to %s", url, f"{_size(dest):,}", dest)
    return dest


def fetch_movielens(
    release: MovieLensRelease,
    dest_dir: str | os.PathLike[str],
    *,
    base_url: str = MOVIELENS_BASE_URL,
    session: requests.Session | None = None,
    progress: bool = True,
) -> Path:
    """Download a MovieLens release, verify its published MD5, unzip it safely, and return its folder.

    Fetches ``{base_url}/{release}.zip`` and its checksum ``{release}.zip.md5`` (both the
    ``MD5 (file) = <hex>`` and the ``<hex>  file`` styles are understood; when the checksum file is
    missing the download goes on unverified, with a warning). The archive is extracted into
    ``dest_dir/<release>/`` only after every entry is checked to stay inside ``dest_dir``, then deleted.
    Idempotent: a release already extracted there is returned without touching the network.

    Example:
        >>> fetch_movielens("ml-latest-small", "data")  # doctest: +SKIP
        PosixPath('data/ml-latest-small')
    """
    if release not in get_args(MovieLensRelease):
        known = ", ".join(get_args(MovieLensRelease))
        raise FetchError(f"unknown MovieLens release {release!r}; known: {known}")
    dest_dir = Path(dest_dir)
    folder = dest_dir / release
    if folder.is_dir():
        log.info("MovieLens %s already extracted at %s; not downloading again", release, folder)
        return folder

    zip_url = f"{base_url.rstrip('/')}/{release}.zip"
    with _session_scope(session) as http:
        md5 = _published_md5(http, f"{zip_url}.md5")
        archive = download(zip_url, dest_dir / f"{release}.zip", expected_md5=md5, session=http,
                           progress=progress)
    _extract_release(archive, dest_dir, release, verified=md5 is not None)
    archive.unlink()
    log.info("MovieLens %s ready at %s", release, folder)
    return folder


def fetch_tmdb(
    tmdb_ids: Iterable[int],
    out_path: str | os.PathLike[str],
    *,
    api_key: str | None = None,
    base_url: str = TMDB_BASE_URL,
    append: str = TMDB_APPEND,
    rate_limit_per_s: float = 40,
    session: requests.Session | None = None,
    progress: bool = True,
    timeout: float = 30,
) -> Path:
    """Fetch TMDB movie objects and write them one per line to a gzipped JSON-lines file.

    Each id is fetched from ``{base_url}/movie/{id}?append_to_response={append}``; the appended
    sub-responses are flattened the way ``shared/data/tmdb/tmdb_api_movies.jsonl.gz`` holds them
    (``keywords`` and ``reviews`` as lists, ``similar`` and ``recommendations`` as lists of TMDB ids,
    ``credits`` as ``{"cast", "crew"}``). The run resumes: ids already in ``out_path``, or fetched by an
    interrupted run (kept in ``<out_path>.partial``), are not fetched again, and ids TMDB answered 404 for
    are recorded in ``<out_path>.missing`` and skipped. HTTP 429 waits for ``Retry-After``. ``out_path``
    is only ever replaced atomically, also when a run fails midway.

    Raises:
        FetchError: no API key (set ``TMDB_API_KEY``), the key was rejected, or the network failed.

    Example:
        >>> fetch_tmdb([862, 949], "data/tmdb/tmdb_api_movies.jsonl.gz")  # doctest: +SKIP
        PosixPath('data/tmdb/tmdb_api_movies.jsonl.gz')
    """
    api_key = api_key or os.environ.get("TMDB_API_KEY")
    if not api_key:
        raise FetchError("no TMDB API key: set the TMDB_API_KEY environment variable (a free key comes from "
                         "https://www.themoviedb.org/settings/api) or pass api_key=, or use the TMDB files "
                         "you already have with --data DIR")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    missing_path = out_path.with_name(out_path.name + ".missing")

    done = _ids_in_jsonl_gz(out_path) | _repair_partial(partial)
    missing = _ids_in_missing(missing_path)
    wanted = list(dict.fromkeys(int(i) for i in tmdb_ids))
    todo = [i for i in wanted if i not in done and i not in missing]
    log.info("TMDB: %d ids asked, %d already fetched, %d known missing, %d to fetch", len(wanted),
             sum(i in done for i in wanted), sum(i in missing and i not in done for i in wanted), len(todo))

    limiter = _RateLimiter(rate_limit_per_s)
    endpoint = base_url.rstrip("/")
    newly_missing = 0
    try:
        with _session_scope(session) as http, \
                partial.open("a", encoding="utf-8") as part_fh, \
                missing_path.open("a", encoding="utf-8") as missing_fh, \
                tqdm(todo, unit="movie", desc="TMDB", disable=not progress) as bar:
            for tmdb_id in bar:
                movie = _get_tmdb_movie(http, f"{endpoint}/movie/{tmdb_id}", tmdb_id,
                                        params={"api_key": api_key, "append_to_response": append},
                                        api_key=api_key, limiter=limiter, timeout=timeout)
                if movie is None:
                    missing_fh.write(f"{tmdb_id}\n")
                    missing_fh.flush()
                    newly_missing += 1
                    continue
                part_fh.write(json.dumps(_flatten_appended(movie), ensure_ascii=False) + "\n")
                part_fh.flush()  # a killed run loses at most the line being written
    finally:
        _merge_partial(out_path, partial)
    if newly_missing:
        log.warning("TMDB had no movie for %d id(s); they are listed in %s and will be skipped next time",
                    newly_missing, missing_path)
    return out_path


def fetch_posters(
    poster_paths: Mapping[int, str],
    dest_dir: str | os.PathLike[str],
    *,
    base_url: str = TMDB_IMAGE_BASE_URL,
    session: requests.Session | None = None,
    progress: bool = True,
) -> dict[int, Path]:
    """Download poster images to ``dest_dir/<movieId>.jpg`` and return ``{movieId: path}``.

    ``poster_paths`` maps a MovieLens movieId to a TMDB ``poster_path`` (``"/abc.jpg"``, joined to
    ``base_url``) or to an absolute ``http(s)://`` URL, used as is. Posters already on disk are not
    downloaded again. A poster the server answers 404 for is logged and left out of the result; any other
    failure raises ``FetchError``.

    Example:
        >>> fetch_posters({1: "/uXDfjJbdP4ijW5hWSBrPrlKpxab.jpg"}, "data/posters")  # doctest: +SKIP
        {1: PosixPath('data/posters/1.jpg')}
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    result: dict[int, Path] = {}
    not_found: list[int] = []
    with _session_scope(session) as http, \
            tqdm(poster_paths.items(), total=len(poster_paths), unit="poster", desc="posters",
                 disable=not progress) as bar:
        for movie_id, poster in bar:
            dest = dest_dir / f"{int(movie_id)}.jpg"
            if dest.is_file() and dest.stat().st_size > 0:
                result[movie_id] = dest
                continue
            if not poster:  # TMDB's poster_path is null for movies without one
                continue
            url = poster if poster.startswith(("http://", "https://")) else \
                f"{base_url.rstrip('/')}/{poster.lstrip('/')}"
            try:
                result[movie_id] = download(url, dest, session=http, progress=False)
            except HTTPStatusError as exc:
                if exc.status != 404:
                    raise
                not_found.append(movie_id)
    if not_found:
        log.warning("%d poster(s) not found (HTTP 404), e.g. movieId %s", len(not_found),
                    ", ".join(map(str, not_found[:5])))
    return result


def fetch_metadata(
    names: Iterable[str],
    dest_dir: str | os.PathLike[str],
    *,
    kaggle_base_url: str = KAGGLE_BASE_URL,
    urls: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download public movie-metadata sets (`METADATA_DOWNLOADS`: ``tmdb-5000``, ``movies-dataset``,
    ``imdb-5000``, ``tmdb-movie-data``) into a data folder laid out as `index.catalog` reads it.

    A Kaggle set comes as one zip (``{kaggle_base_url}/{owner}/{name}``); only its listed files are
    taken out, by name, and the zip is deleted. Each file is checked to hold the format its name
    promises (`index.sources.formats.detect_format`) before it is moved into place atomically, so a
    file under its final name is always complete and of the right kind. Sets whose files are all
    there already are not downloaded again. `urls` overrides a set's plain-file URL.

    Raises:
        FetchError: an unknown set, a network failure (the message suggests ``--data DIR``), a zip
            without the expected file, or a file in another format.

    Example:
        >>> fetch_metadata(["tmdb-5000", "imdb-5000"], "data")  # doctest: +SKIP
        [PosixPath('data/tmdb/tmdb_5000_movies.csv'), PosixPath('data/tmdb/tmdb_5000_credits.csv'), ...]
    """
    from index.sources.formats import detect_format

    unknown = [name for name in names if name not in METADATA_DOWNLOADS]
    if unknown:
        raise FetchError(f"unknown metadata set(s) {unknown}; known: {', '.join(METADATA_DOWNLOADS)}")
    dest_dir = Path(dest_dir)
    written: list[Path] = []
    with _session_scope(session) as http:
        if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
            http.auth = (os.environ["KAGGLE_USERNAME"], os.environ["KAGGLE_KEY"])
        for name in dict.fromkeys(names):
            spec = METADATA_DOWNLOADS[name]
            targets = {member: dest_dir / path for member, path in spec.files.items()}
            if all(target.is_file() for target in targets.values()):
                log.info("%s already in %s; not downloading again", name, dest_dir)
                written += targets.values()
                continue
            staging = dest_dir / f".{name}.fetching"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            try:
                if spec.kaggle:
                    archive = download(f"{kaggle_base_url.rstrip('/')}/{spec.kaggle}", staging / f"{name}.zip",
                                       session=http, progress=progress)
                    _extract_members(archive, list(targets), staging)
                else:
                    url = (urls or {}).get(name) or spec.url or ""
                    download(url, staging / next(iter(targets)), session=http, progress=progress)
                for member, target in targets.items():
                    found = detect_format(staging / member)
                    expected = detect_format_name(member)
                    if found != expected:
                        raise FetchError(f"{name}: the downloaded {member} is not {expected} (it looks like "
                                         f"{found or 'nothing cinefuse reads'}); the source may have changed: "
                                         f"download it yourself and pass --data DIR")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staging / member, target)
                    written.append(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            log.info("%s ready in %s", name, dest_dir)
    return written


def detect_format_name(file_name: str) -> str | None:
    """The metadata format a downloaded file of this name must hold.

    Example:
        >>> detect_format_name("tmdb-movies.csv")
        'tmdb_movie_data'
    """
    return {"tmdb_5000_movies.csv": "tmdb_5000_movies", "tmdb_5000_credits.csv": "tmdb_5000_credits",
            "movies_metadata.csv": "movies_metadata", "movie_metadata.csv": "imdb_5000",
            "tmdb-movies.csv": "tmdb_movie_data"}.get(file_name)


def _extract_members(archive: Path, members: list[str], target: Path) -> None:
    """Write the zip entries named `members` (matched by file name, wherever they sit) into `target`."""
    try:
        with zipfile.ZipFile(archive) as zf:
            by_name = {PurePosixPath(info.filename.replace("\\", "/")).name: info for info in zf.infolist()
                       if not info.is_dir()}
            missing = [m for m in members if m not in by_name]
            if missing:
                raise FetchError(f"{archive.name} holds no {missing} (it has {sorted(by_name)[:10]}); the "
                                 f"dataset may have changed: download it yourself and pass --data DIR")
            for member in members:
                with zf.open(by_name[member]) as src, open(target / member, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{archive.name} is not a valid zip archive ({exc}); run the command again") from exc


# --- downloads ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _session_scope(session: requests.Session | None) -> Iterator[requests.Session]:
    """The caller's session as is, or a fresh retrying one that is closed afterwards."""
    if session is not None:
        yield session
        return
    owned = retrying_session()
    try:
        yield owned
    finally:
        owned.close()


class _StreamInterrupted(Exception):
    """The body stopped before its end; the bytes so far are in the .part file and can be resumed."""


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _stream_once(session: requests.Session, url: str, part: Path, *, chunk_size: int, timeout: float,
                 bar: tqdm[Any]) -> None:
    offset = _size(part)
    # identity: a compressed transfer would make Content-Length and Range count other bytes than we store
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise FetchError(f"could not download {url}: {exc}; {_OFFLINE_HINT}") from exc

    with response:
        status = response.status_code
        content_range = _parse_content_range(response.headers.get("Content-Range"))
        if offset and status == 416:
            if content_range and content_range[2] == offset:
                bar.reset(total=offset)
                bar.update(offset)
                return  # the .part file already holds every byte
            log.warning("%s cannot resume at byte %s; starting over", url, f"{offset:,}")
            part.unlink()
            raise _StreamInterrupted("range not satisfiable")
        if status == 206 and content_range and content_range[0] == offset:
            mode, total = "ab", content_range[2]
        elif status == 200 or (status == 206 and content_range and content_range[0] == 0):
            if offset:
                log.info("%s does not support resuming (HTTP %d to a Range request); starting over",
                         url, status)
            offset, mode = 0, "wb"
            total = content_range[2] if content_range else \
                _int_or_none(response.headers.get("Content-Length"))
        elif status == 206:
            raise FetchError(f"{url} answered a Range request for byte {offset} with Content-Range "
                             f"{response.headers.get('Content-Range')!r}; delete {part} and retry")
        else:
            raise HTTPStatusError(f"{url} answered HTTP {status} {response.reason}; "
                                  f"{'the file does not exist there' if status == 404 else _OFFLINE_HINT}",
                                  status=status)

        bar.reset(total=total)
        bar.update(offset)
        with part.open(mode) as fh:
            try:
                for chunk in response.iter_content(chunk_size=chunk_size):
                    fh.write(chunk)
                    bar.update(len(chunk))
            except requests.RequestException as exc:
                raise _StreamInterrupted(str(exc)) from exc
    if total is not None and _size(part) < total:
        raise _StreamInterrupted(f"got {_size(part):,} of {total:,} bytes") from None
    if total is not None and _size(part) > total:
        part.unlink()
        raise FetchError(f"{url} sent more bytes than it announced ({total:,}); the partial file was "
                         f"removed, run the command again")


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes 10-99/100`` -> (10, 99, 100); ``bytes */100`` -> (-1, -1, 100)."""
    if not value:
        return None
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*", value)
    if not match:
        return None
    start, end, total = match.groups()
    return (int(start) if start else -1, int(end) if end else -1, None if total == "*" else int(total))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _checksum_mismatches(path: Path, expected: Mapping[str, str]) -> list[tuple[str, str, str]]:
    if not expected:
        return []
    hashers = {name: hashlib.new(name, usedforsecurity=False) for name in expected}
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            for hasher in hashers.values():
                hasher.update(block)
    return [(name, want, hashers[name].hexdigest()) for name, want in expected.items()
            if hashers[name].hexdigest() != want]


# --- MovieLens ------------------------------------------------------------------------------------------


def _published_md5(session: requests.Session, md5_url: str) -> str | None:
    try:
        response = session.get(md5_url, timeout=60)
    except requests.RequestException as exc:
        raise FetchError(f"could not download {md5_url}: {exc}; {_OFFLINE_HINT}") from exc
    if response.status_code != 200:
        log.warning("no published checksum at %s (HTTP %d); the download will not be verified",
                    md5_url, response.status_code)
        return None
    md5 = parse_md5_file(response.text)
    if md5 is None:
        raise FetchError(f"{md5_url} does not look like an MD5 checksum file: {response.text[:120]!r}; "
                         f"download the release yourself and pass --data DIR")
    return md5


def parse_md5_file(text: str) -> str | None:
    """The MD5 hex digest in a checksum file, BSD style (``MD5 (f.zip) = <hex>``) or GNU style
    (``<hex>  f.zip``); ``None`` when there is none.

    Example:
        >>> parse_md5_file("MD5 (ml-latest-small.zip) = 6D1A9A2B4B8F4D0C9B0D3C8F4F0E8A1B")
        '6d1a9a2b4b8f4d0c9b0d3c8f4f0e8a1b'
        >>> parse_md5_file("6d1a9a2b4b8f4d0c9b0d3c8f4f0e8a1b  ml-latest-small.zip\\n")
        '6d1a9a2b4b8f4d0c9b0d3c8f4f0e8a1b'
    """
    match = re.search(r"^\s*MD5\s*\(.*\)\s*=\s*([0-9a-fA-F]{32})\s*$", text, re.MULTILINE) or \
        re.search(r"^\s*([0-9a-fA-F]{32})(?:\s+\*?\S.*)?\s*$", text, re.MULTILINE)
    return match.group(1).lower() if match else None


def _extract_release(archive: Path, dest_dir: Path, release: str, *, verified: bool) -> None:
    staging = dest_dir / f".{release}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                _safe_extract(zf, staging, archive)
        except zipfile.BadZipFile as exc:
            if not verified:
                archive.unlink(missing_ok=True)  # unverified and broken: let the next run download it again
            raise FetchError(f"{archive} is not a valid zip archive ({exc})"
                             f"{'; it was removed, run the command again' if not verified else ''}") from exc
        entries = [p for p in staging.iterdir() if p.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].name == release and entries[0].is_dir():
            os.replace(entries[0], dest_dir / release)
        else:  # an archive without the usual top folder: its contents become the release folder
            os.replace(staging, dest_dir / release)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _safe_extract(zf: zipfile.ZipFile, target: Path, archive: Path) -> None:
    """Extract only after every entry is known to land inside ``target`` and to fit on the disk."""
    root = target.resolve()
    for info in zf.infolist():
        name = PurePosixPath(info.filename.replace("\\", "/"))
        escapes = name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0])
        if escapes or not (root / name).resolve().is_relative_to(root):
            raise FetchError(f"{archive} contains the entry {info.filename!r}, which would be written "
                             f"outside {target.parent}; refusing to extract it. Delete {archive} and "
                             f"download the release from its original source")
    needed = sum(info.file_size for info in zf.infolist())
    free = shutil.disk_usage(root).free
    if needed > free:
        raise FetchError(f"{archive} unpacks to {needed:,} bytes but only {free:,} are free in "
                         f"{target.parent}; free some space or choose another directory")
    zf.extractall(root)


# --- TMDB -----------------------------------------------------------------------------------------------


class _RateLimiter:
    """Spaces calls at least ``1 / rate_per_s`` seconds apart."""

    def __init__(self, rate_per_s: float) -> None:
        self.interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self.next_at = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self.next_at:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


def _get_tmdb_movie(session: requests.Session, url: str, tmdb_id: int, *, params: dict[str, str],
                    api_key: str, limiter: _RateLimiter, timeout: float) -> dict[str, Any] | None:
    """The movie object, or ``None`` when TMDB has no movie with this id."""
    for _ in range(_MAX_RATE_LIMITED_RETRIES + 1):
        limiter.wait()
        try:
            response = session.get(url, params=params, timeout=timeout)
        except requests.RequestException as exc:
            # requests puts the full URL, api_key included, into its messages
            raise FetchError(f"could not fetch TMDB movie {tmdb_id} from {url}: "
                             f"{str(exc).replace(api_key, '***')}; {_OFFLINE_HINT}") from exc
        if response.status_code == 429:
            delay = _retry_after_seconds(response.headers.get("Retry-After"))
            log.info("TMDB rate limit hit at movie %d; waiting %.1f s", tmdb_id, delay)
            time.sleep(delay)
            continue
        if response.status_code == 404:
            log.debug("TMDB has no movie %d", tmdb_id)
            return None
        if response.status_code == 401:
            raise FetchError(f"TMDB rejected the API key (HTTP 401 from {url}); check TMDB_API_KEY "
                             f"(https://www.themoviedb.org/settings/api)")
        if response.status_code != 200:
            raise FetchError(f"TMDB answered HTTP {response.status_code} for movie {tmdb_id} ({url}): "
                             f"{response.text[:200].replace(api_key, '***')}; run the command again to "
                             f"resume, or {_OFFLINE_HINT}")
        try:
            movie: dict[str, Any] = response.json()
        except ValueError as exc:
            raise FetchError(f"TMDB sent something that is not JSON for movie {tmdb_id} ({url}); "
                             f"run the command again to resume") from exc
        return movie
    raise FetchError(f"TMDB kept answering HTTP 429 (too many requests) for movie {tmdb_id}; lower "
                     f"rate_limit_per_s and run the command again to resume")


def _retry_after_seconds(value: str | None, default: float = 1.0) -> float:
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _flatten_appended(movie: dict[str, Any]) -> dict[str, Any]:
    """Shape the ``append_to_response`` parts like shared/data/tmdb/tmdb_api_movies.jsonl.gz holds them."""
    flat = dict(movie)
    if isinstance(flat.get("keywords"), dict):
        flat["keywords"] = flat["keywords"].get("keywords", flat["keywords"].get("results", []))
    if isinstance(flat.get("reviews"), dict):
        flat["reviews"] = flat["reviews"].get("results", [])
    for name in ("similar", "recommendations"):
        if isinstance(flat.get(name), dict):
            flat[name] = [item["id"] for item in flat[name].get("results", []) if "id" in item]
    if isinstance(flat.get("credits"), dict):
        flat["credits"] = {"cast": flat["credits"].get("cast", []), "crew": flat["credits"].get("crew", [])}
    return flat


def _ids_in_jsonl_gz(path: Path) -> set[int]:
    if not path.exists():
        return set()
    ids: set[int] = set()
    line_number = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                line_number += 1
                if line.strip():
                    ids.add(int(json.loads(line)["id"]))
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"{path} line {line_number}: cannot read it as gzipped JSON lines of TMDB movies "
                         f"({exc}); move it away to start over") from exc
    return ids


def _read_partial_lines(path: Path) -> list[str]:
    """Complete JSON lines of the sidecar; a line a killed run left half-written is dropped."""
    if not path.exists():
        return []
    lines = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                json.loads(line)
            except ValueError:
                log.warning("dropping a half-written line in %s", path)
                continue
            lines.append(line if line.endswith("\n") else line + "\n")
    return lines


def _repair_partial(path: Path) -> set[int]:
    """Rewrite the sidecar with its complete lines only, so appending starts on a fresh line; their ids."""
    lines = _read_partial_lines(path)
    if path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, path)
    return {int(json.loads(line)["id"]) for line in lines}


def _ids_in_missing(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {int(line) for line in path.read_text(encoding="utf-8").split() if line.strip().isdigit()}


def _merge_partial(out_path: Path, partial: Path) -> None:
    """Append the sidecar's movies to ``out_path`` as one more gzip member, replacing it atomically."""
    existing = _ids_in_jsonl_gz(out_path)
    lines = [line for line in _read_partial_lines(partial) if int(json.loads(line)["id"]) not in existing]
    if lines or not out_path.exists():
        tmp = out_path.with_name(out_path.name + ".tmp")
        if out_path.exists():
            shutil.copyfile(out_path, tmp)  # gzip readers read concatenated members as one stream
        else:
            tmp.unlink(missing_ok=True)
        with gzip.open(tmp, "ab") as gz:
            gz.write("".join(lines).encode("utf-8"))
        os.replace(tmp, out_path)
    partial.unlink(missing_ok=True)
