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
