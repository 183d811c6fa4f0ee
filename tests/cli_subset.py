"""Run the real `cinefuse` command in its own process on a small real-data folder (a SIGKILL must not take the
test down with it), and read what it answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from recommender.api import Recommender

REPO = Path(__file__).resolve().parents[1]
HISTORY = {"Heat (1995)": 5, "The Matrix (1999)": 5, "Jurassic Park (1993)": False}


def env(cache: Path, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("CINEFUSE_")}
    out.update(CINEFUSE_CACHE_DIR=str(cache), CINEFUSE_REVIEW_CHUNKS_PER_MOVIE="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO), **extra)
    return out


def run_cli(*argv: str, cache: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
    """The real `cinefuse` command in its own process (a SIGKILL must not take the test down with it)."""
    return subprocess.run([sys.executable, "-m", "app.cli", *argv], capture_output=True, text=True, cwd=REPO,
                          env=env(cache, **extra), timeout=timeout)


def build(data: Path, store: Path | str, cache: Path, *flags: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("build", "--data", str(data), "--store", str(store), "--no-posters", "-q", *flags, cache=cache,
                   **extra)


def answers(store: Path) -> list[tuple[int, float]]:
    with Recommender.open(store) as rec:
        return [(r.movie_id, round(r.score, 6)) for r in rec.recommend(HISTORY, k=8, explore=False)]


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cinefuse"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return last
