"""Where the command line finds its data folder: ``--data``, a release fetched earlier, or one fetched now."""

from __future__ import annotations

import sys
from pathlib import Path

from index.config import DEFAULT_HOME, Settings
from index.errors import CinefuseError, FetchError

NO_DATA = ("cinefuse: no data: pass --data DIR (a folder with ml-latest-small/, tmdb/, reviews/, posters/, "
           "e.g. ../shared/data), or run with internet access so MovieLens can be fetched")


def find_data(data: str | None, settings: Settings) -> Path:
    """The data folder: ``--data``, else a MovieLens release fetched earlier, else fetched now."""
    if data:
        path = Path(data).expanduser()
        if not path.is_dir():
            raise CinefuseError(f"--data {data}: no such folder")
        return path
    fetched = DEFAULT_HOME / "data"
    if (fetched / "ml-latest-small" / "ratings.csv").exists():
        return fetched
    from index.fetch import fetch_movielens  # here: the download stack is only needed when there is no data

    try:
        fetch_movielens("ml-latest-small", fetched, base_url=settings.movielens_url)
    except FetchError:
        print(NO_DATA, file=sys.stderr)
        raise SystemExit(2) from None
    return fetched
