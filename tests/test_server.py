"""An index on a Qdrant server, served by several processes: the ranker lives in a shared artifacts folder and every
process checks it against the fingerprint the collection records. qdrant-client's local mode (``qdrant-local://``)
stands in for the server here: no Qdrant server binary can be installed on these machines."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from tests.cli_subset import REPO, build, env, one_line_error, run_cli

OPEN_AND_RECOMMEND = """
import json, sys
from index.config import Settings
from recommender.api import Recommender, file_sha256, ranker_path
settings = Settings.load(store=sys.argv[1], artifacts=sys.argv[2])
with Recommender.open(settings.store, settings=settings) as rec:
    recs = rec.recommend({"Heat (1995)": 5, "The Matrix (1999)": 5}, k=8, explore=False)
    info = rec.store.schema().info["ranker"]
    print(json.dumps({"ids": [r.movie_id for r in recs], "recorded": info["sha256"],
                      "loaded": file_sha256(ranker_path(settings)), "collection": rec.store.collection}))
"""


def serve_once(store: str, artifacts: Path, cache: Path) -> dict:
    import subprocess
    import sys


    out = subprocess.run([sys.executable, "-c", OPEN_AND_RECOMMEND, store, str(artifacts)], capture_output=True,
                         text=True, cwd=REPO, env=env(cache), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def collections(path: Path) -> tuple[list[str], dict[str, str]]:
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(path))
    try:
        names = sorted(c.name for c in client.get_collections().collections)
        return names, {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
    finally:
        client.close()


@pytest.mark.slow
def test_serving_processes_share_the_ranker_by_fingerprint(data: Path, cache: Path, tmp_path: Path) -> None:
    server = tmp_path / "qdrant"
    store, artifacts = f"qdrant-local://{server}", tmp_path / "shared-artifacts"
    first = build(data, store, cache, "--artifacts", str(artifacts))
    assert first.returncode == 0, first.stderr[-2000:]
    one, two = serve_once(store, artifacts, cache), serve_once(store, artifacts, cache)
    assert one["loaded"] == one["recorded"] and one == two  # two processes, the same ranker, the same answers
    names, aliases = collections(server)
    assert names == [aliases["movies"]] and one["collection"] == "movies"  # served through the alias
    old_ranker = tmp_path / "old-ranker.pkl"
    shutil.copy(artifacts / "ranker.pkl", old_ranker)

    # a rebuild killed just before the alias moves: the old collection keeps answering, unchanged
    changed = tmp_path / "data"
    shutil.copytree(data, changed)
    ratings = changed / "ml-latest-small" / "ratings.csv"
    lines = ratings.read_text().splitlines()
    ratings.write_text("\n".join(lines[:1] + lines[1::2]) + "\n")
    staged_artifacts = tmp_path / "staged-artifacts"
    shutil.copytree(artifacts, staged_artifacts)
    killed = build(changed, store, cache, "--artifacts", str(staged_artifacts),
                   CINEFUSE_FAILPOINT="swap")
    assert killed.returncode == -signal.SIGKILL
    assert serve_once(store, artifacts, cache) == one

    # the rebuild: one atomic alias move, the previous collection dropped, a new ranker recorded
    again = build(changed, store, cache, "--artifacts", str(artifacts))
    assert again.returncode == 0, again.stderr[-2000:]
    names, aliases = collections(server)
    assert names == [aliases["movies"]]  # the killed build's half-made collection is gone too
    after = serve_once(store, artifacts, cache)
    assert after["recorded"] != one["recorded"] and after["loaded"] == after["recorded"]

    # a serving process given another index's ranker refuses it
    shutil.copy(old_ranker, artifacts / "ranker.pkl")
    line = one_line_error(run_cli("recommend", "--like", "Heat", "--store", store, "--artifacts", str(artifacts),
                                  cache=cache))
    assert "SHA-256" in line and "differs" in line


def test_a_local_index_refuses_a_ranker_it_did_not_train(index: Path, cache: Path, tmp_path: Path) -> None:
    store = tmp_path / "index"
    shutil.copytree(index, store)
    with open(store / "ranker.pkl", "ab") as fh:
        fh.write(b"\0")  # any change: a copy cut short, another build's file
    line = one_line_error(run_cli("recommend", "--like", "Heat", "--store", str(store), cache=cache))
    assert "SHA-256" in line
