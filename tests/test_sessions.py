"""Chat sessions that any serving process can continue: kept in Qdrant (qdrant-client's local mode stands in for the
server here, as in test_server.py), keyed by Gradio's session id, the newest revision winning."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.session import ChatService, Session
from app.sessions import MemorySessions, QdrantSessions, open_sessions, session_from_dict, session_to_dict
from index.config import Settings
from index.errors import CinefuseError
from index.store import qdrant_client
from recommender.api import Recommender

WRITE_SESSION = """
import sys
from app.session import Session
from app.sessions import QdrantSessions
from index.store import qdrant_client
s = Session(); s.tell(6, True); s.tell(480, False); s.exclude_genres.append("Horror")
QdrantSessions(qdrant_client(sys.argv[1]), "movies-sessions").save("tab-1", s)
"""


def test_a_session_survives_the_round_trip_through_json() -> None:
    s = Session()
    s.tell(6, True)
    s.tell(2571, True, declared=False)
    s.tell(480, False)
    s.only_genres.append("Comedy")
    s.passed, s.steer = [1, 2], "only 90s"
    back = session_from_dict(session_to_dict(s))
    assert back.history == s.history and back.feedback == {2571} and back.only_genres == ["Comedy"]
    assert back.passed == [1, 2] and back.steer == "only 90s"  # "show me more" continues in another process
    assert back.declared_likes() == [6] and back._clock == s._clock


def test_another_process_continues_a_saved_session(tmp_path: Path) -> None:
    where = f"qdrant-local://{tmp_path / 'sessions'}"
    done = subprocess.run([sys.executable, "-c", WRITE_SESSION, where], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    store = QdrantSessions(qdrant_client(where), "movies-sessions")
    got = store.resume("tab-1", Session())
    assert [(m, i.liked) for m, i in got.history.items()] == [(6, True), (480, False)]
    assert got.exclude_genres == ["Horror"] and got.revision == 1
    assert store.resume("another-tab", Session()).history == {}  # keys never mix


def test_the_newest_revision_wins_and_old_sessions_are_pruned() -> None:
    from qdrant_client import QdrantClient

    store = QdrantSessions(QdrantClient(location=":memory:"), "s")
    here = Session()
    here.tell(6, True)
    store.save("k", here)  # revision 1
    there = store.resume("k", Session())
    there.tell(2571, True)
    store.save("k", there)  # revision 2, written by "another process"
    assert store.resume("k", here).declared_likes() == [2571, 6]
    newest = store.resume("k", here)
    assert store.resume("k", newest) is newest  # nothing newer: the process's own copy, not a reload
    store.prune(older_than_s=0)
    assert store.resume("k", Session()).history == {}


def test_open_sessions_names_what_is_wrong() -> None:
    assert isinstance(open_sessions(Settings()), MemorySessions)
    with pytest.raises(CinefuseError, match="Qdrant Edge folder that one process serves"):
        open_sessions(Settings(store="runs/index", sessions="store"))
    with pytest.raises(CinefuseError, match="CINEFUSE_SESSIONS"):
        open_sessions(Settings(sessions="redis://somewhere"))


@pytest.fixture(scope="module")
def rec(built_store: Path) -> Iterator[Recommender]:
    r = Recommender.open(built_store)
    try:
        yield r
    finally:
        r.close()


def _serve(rec: Recommender, media: Path, sessions: object) -> tuple[object, str]:
    from app.ui import launch
    from tests.test_app import free_port

    port = free_port()
    service = ChatService(rec, explainer="template", media_dir=media, sessions=sessions)  # type: ignore[arg-type]
    return launch(service, port=port, block=False), f"http://127.0.0.1:{port}/"


def test_two_serving_processes_continue_one_session(rec: Recommender, tmp_path: Path) -> None:
    """Two apps (each with its own ChatService and Gradio state, as two `cinefuse serve` processes would have)
    over one Qdrant sessions collection; a gradio_client session moved from one to the other, as a load balancer
    would move it, keeps its likes. The same move onto an app with in-memory sessions loses them."""
    from gradio_client import Client
    from qdrant_client import QdrantClient

    from app.ui import card_titles

    shared = QdrantClient(path=str(tmp_path / "sessions"))  # one server; each process would have its own client
    apps = [_serve(rec, tmp_path / f"media-{i}", QdrantSessions(shared, "movies-sessions")) for i in range(2)]
    alone = _serve(rec, tmp_path / "media-alone", MemorySessions())
    try:
        a = Client(apps[0][1], verbose=False)
        _, _, listing, profile, _ = a.predict("I loved Heat and The Matrix", [], api_name="/chat")
        first = card_titles(listing)[0]
        b = Client(apps[1][1], verbose=False)
        b.session_hash = a.session_hash
        _, _, listing, profile, _ = b.predict(1, [], api_name="/thumbs_up")  # card 1 of the page process A drew
        assert profile["liked"] == ["Heat (1995)", "The Matrix (1999)"] and profile["more_like"] == [first]
        assert first not in card_titles(listing)
        profile = a.predict("no horror", [], api_name="/chat")[3]  # back on A: it sees what B added
        assert profile["more_like"] == [first] and profile["no_genres"] == ["Horror"]
        c = Client(alone[1], verbose=False)
        c.session_hash = a.session_hash
        assert c.predict("no horror", [], api_name="/chat")[3]["liked"] == []
    finally:
        for demo, _ in [*apps, alone]:
            demo.close()  # type: ignore[attr-defined]
        shared.close()


def test_a_service_leaves_no_media_folder_behind(rec: Recommender) -> None:
    import gc

    service = ChatService(rec, explainer="template")
    media = service.media
    assert Path(service.image(1)).parent == media and any(media.iterdir())
    del service
    gc.collect()
    assert not media.exists()
