"""Where chat sessions live between requests, so that any ``cinefuse serve`` process can answer any of them.

One process keeps sessions in memory (``sessions = "memory"``, the default). Several processes behind a load
balancer share them through Qdrant (``sessions = "store"``: a ``<collection>-sessions`` collection beside the
index on its server; or a server URL / ``qdrant-local://PATH`` of their own). A session is keyed by the
browser's (or ``gradio_client``'s) session id and carries a revision number: a process that holds an older copy
than the shared one continues from the shared one.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from typing import Any

from app.session import Card, MemorySessions, Session, SessionStore
from index.config import Settings
from index.errors import CinefuseError
from index.store import CLIENT_LOCAL, qdrant_client
from recommender.ranking.profile import Interaction

#: sessions nobody touched for this long are dropped from a shared store when a process starts
DEFAULT_TTL_DAYS = 30.0

__all__ = ["MemorySessions", "QdrantSessions", "SessionStore", "open_sessions", "session_from_dict",
           "session_to_dict"]


def session_to_dict(session: Session) -> dict[str, Any]:
    """A session as JSON-ready data (the page's image paths are this process's; another process redraws them).

    Example:
        >>> s = Session(); s.tell(6, True); s.exclude_genres.append("Horror")
        >>> d = session_to_dict(s); d["history"][0][:2], d["exclude_genres"]
        ([6, True], ['Horror'])
    """
    return {"history": [[m, i.liked, i.timestamp, i.rating] for m, i in session.history.items()],
            "exclude_genres": list(session.exclude_genres), "only_genres": list(session.only_genres),
            "page": [asdict(c) for c in session.page], "feedback": sorted(session.feedback),
            "pending": list(session.pending), "pending_liked": session.pending_liked,
            "passed": list(session.passed), "steer": session.steer,
            "excluded": [[kind, list(values), label] for kind, values, label in session.excluded],
            "focus": session.focus, "size": session.size, "clock": session._clock, "revision": session.revision}


def session_from_dict(data: dict[str, Any]) -> Session:
    """The inverse of :func:`session_to_dict`.

    Example:
        >>> s = Session(); s.tell(6, True); s.tell(2571, False, declared=False)
        >>> t = session_from_dict(session_to_dict(s))
        >>> t.history == s.history, t.feedback, t.declared_likes()
        (True, {2571}, [6])
    """
    session = Session(
        history={int(m): Interaction(int(m), liked=liked, timestamp=ts, rating=rating)
                 for m, liked, ts, rating in data.get("history", [])},
        exclude_genres=list(data.get("exclude_genres", [])), only_genres=list(data.get("only_genres", [])),
        page=[Card(**c) for c in data.get("page", [])], feedback={int(m) for m in data.get("feedback", [])},
        pending=[int(m) for m in data.get("pending", [])], pending_liked=bool(data.get("pending_liked", True)),
        passed=[int(m) for m in data.get("passed", [])], steer=data.get("steer"),
        excluded=[(str(kind), tuple(values), str(label)) for kind, values, label in data.get("excluded", [])],
        focus=None if data.get("focus") is None else int(data["focus"]),
        size=None if data.get("size") is None else int(data["size"]))
    session._clock = float(data.get("clock", 0.0))
    session.revision = int(data.get("revision", 0))
    return session


class QdrantSessions:
    """Sessions in a Qdrant collection (no vectors; the session as JSON in the payload), shared by every process
    that points at the same server. A request costs one small ``retrieve`` of the stored revision; the session
    itself is read only when another process wrote a newer one.

    Example:
        >>> from qdrant_client import QdrantClient
        >>> store = QdrantSessions(QdrantClient(location=":memory:"), "demo-sessions")
        >>> s = Session(); s.tell(6, True); store.save("browser-1", s)
        >>> store.resume("browser-1", Session()).declared_likes()
        [6]
    """

    shared = True

    def __init__(self, client: Any, collection: str, *, ttl_days: float = DEFAULT_TTL_DAYS) -> None:
        from qdrant_client import models

        self.client, self.collection, self.models = client, collection, models
        if not client.collection_exists(collection):
            client.create_collection(collection, vectors_config={})
            client.create_payload_index(collection, "updated", models.PayloadSchemaType.FLOAT)
        self.prune(ttl_days * 86400)

    @staticmethod
    def point_id(key: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cinefuse-session:{key}"))

    def resume(self, key: str, local: Session) -> Session:
        if self._read(key, ["revision"]).get("revision", 0) <= local.revision:
            return local
        payload = self._read(key, True)
        try:
            return session_from_dict(json.loads(payload["session"]))
        except (KeyError, TypeError, ValueError) as err:
            raise CinefuseError(f"session {key!r} in Qdrant collection {self.collection!r} is unreadable ({err}); "
                                "start over in a new browser tab") from err

    def save(self, key: str, session: Session) -> None:
        session.revision += 1
        self.client.upsert(self.collection, [self.models.PointStruct(
            id=self.point_id(key), vector={},
            payload={"session": json.dumps(session_to_dict(session)), "revision": session.revision,
                     "updated": time.time()})])

    def prune(self, older_than_s: float) -> None:
        """Drop sessions untouched for ``older_than_s`` seconds."""
        m = self.models
        self.client.delete(self.collection, m.FilterSelector(filter=m.Filter(must=[m.FieldCondition(
            key="updated", range=m.Range(lt=time.time() - older_than_s))])))

    def _read(self, key: str, fields: Any) -> dict[str, Any]:
        found = self.client.retrieve(self.collection, [self.point_id(key)], with_payload=fields)
        return dict(found[0].payload or {}) if found else {}


def open_sessions(settings: Settings, store: Any = None) -> SessionStore:
    """The session store ``settings.sessions`` names: ``"memory"``; ``"store"`` (beside the index, on its Qdrant
    server: ``store`` is the open index); or a Qdrant server URL / ``qdrant-local://PATH`` of its own.

    Example:
        >>> type(open_sessions(Settings())).__name__
        'MemorySessions'
    """
    where = settings.sessions
    if where == "memory":
        return MemorySessions()
    name = f"{settings.collection}-sessions"
    if where == "store":
        client = getattr(store, "client", None)
        if client is None or not settings.is_server():
            raise CinefuseError(f"sessions = 'store' (CINEFUSE_SESSIONS) keeps sessions beside the index on its Qdrant "
                                f"server, but the index {settings.store} is a local Qdrant Edge folder that one "
                                "process serves: use sessions = 'memory', or a Qdrant server URL")
        return QdrantSessions(client, name, ttl_days=settings.session_ttl_days)
    if where.startswith(("http://", "https://", CLIENT_LOCAL)):
        return QdrantSessions(qdrant_client(where, api_key=settings.api_key, timeout_s=settings.server_timeout_s),
                              name, ttl_days=settings.session_ttl_days)
    raise CinefuseError(f"sessions = {where!r} (CINEFUSE_SESSIONS): use 'memory', 'store', a Qdrant server URL "
                        "(http://...) or qdrant-local://PATH")
