from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(os.environ.get("CINEFUSE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data in ../shared/data; tests that need it skip where it is absent."""
    if not (SHARED_DATA / "ml-latest-small" / "ratings.csv").exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (set CINEFUSE_SHARED_DATA or check out ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def built_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A real index built by `cinefuse build` from a ~120-movie subset of ../shared/data (no posters vectors);
    what the build printed is kept beside it in ``build.out``."""
    import contextlib
    import io

    from app import cli
    from tests.real_subset import write_subset

    root = tmp_path_factory.mktemp("subset")
    write_subset(shared_data, root / "data")
    store = root / "index"
    mp = pytest.MonkeyPatch()
    mp.setenv("CINEFUSE_CACHE_DIR", str(root / "cache"))
    mp.setenv("CINEFUSE_REVIEW_CHUNKS_PER_MOVIE", "2")
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = cli.main(["build", "--data", str(root / "data"), "--store", str(store), "--no-posters", "-q"])
    finally:
        mp.undo()
    (root / "build.out").write_text(printed.getvalue(), encoding="utf-8")
    assert code == 0, printed.getvalue()
    return store


@pytest.fixture(scope="session")
def data(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~70-movie real-data folder (ratings, overviews, reviews, posters) the reliability and server tests build."""
    from tests.real_subset import write_subset

    root = tmp_path_factory.mktemp("reliability") / "data"
    write_subset(shared_data, root, n_other=40, n_reviews=40)
    return root


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability-cache")


@pytest.fixture(scope="session")
def index(data: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index `cinefuse build` made from ``data`` in its own process, with its embedding cache ``cache``."""
    from tests.cli_subset import build

    store = tmp_path_factory.mktemp("reliability-index") / "index"
    assert build(data, store, cache).returncode == 0
    return store
