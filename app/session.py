"""One chat session's profile and what the chat does with a message: the logic behind the Gradio app, kept free of
Gradio so it can be used and tested on its own.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from app.chat import GENRE_WORDS, Request, ordinal, parse_message
from index.errors import CinefuseError, TitleNotFound
from index.query import TONES, Entity, ParsedQuery, describe_list
from index.search import AVOIDED_NOTE, UNKNOWN_WORDS_NOTE
from index.store import Filters
from index.titles import normalize_title, sequel_number
from recommender.api import Recommendation, Recommender
from recommender.explain.evidence import split_sentences
from recommender.explain.lm import TemplateExplainer
from recommender.ranking.profile import Interaction

log = logging.getLogger(__name__)

ExplainerKind = Literal["auto", "model", "template"]
#: the longest message read (longer ones get a friendly reply), and the most titles taken from one message
MAX_MESSAGE_CHARS = 2000
MAX_TITLES = 20
#: what "help" answers: one example of each kind of message the chat understands
HELP_TEXT = ("Tell me films you liked or disliked (“I loved Heat and Alien, hated Titanic”), or describe what you "
             "want (“a heist that goes wrong”, “something lighter from the 90s”, “hidden gems”). Set rules for the "
             "session (“no horror”, “nothing with Adam Sandler”, “give me 5”), react to a card (“more like the third "
             "one”, “why the second?”, “how long is the first one?”), ask about a film (“who's in Heat?”), or say "
             "“show me more” or “start over”.")
#: how many passed picks a session keeps out of its pages ("show me more" ten times over)
MAX_PASSED = 200
_SURPRISE = re.compile(r"\bsurprise\s+(?:me|us)\b", re.I)
_BARE_ANSWER = re.compile(r"^\s*(?:yes|yeah|yep|yup|sure|ok(?:ay)?|no|nope|nah)\s*[.!]*\s*$", re.I)
SORRY = "Sorry, something went wrong on my side (it is logged). Please try again, or rephrase your message."


@dataclass
class Card:
    """One movie shown on a page: its image (a poster, or a drawn title card where ``poster`` is False), what
    to read about it, and why it is there.

    Example:
        >>> Card(1, "Toy Story (1995)", "/posters/1.jpg", "Because you liked Up.").caption()
        'Toy Story (1995): Because you liked Up.'
    """

    movie_id: int
    title: str
    image: str
    explanation: str = ""
    reason: str = "ranked"
    year: int | None = None
    genres: list[str] = field(default_factory=list)
    poster: bool = False

    def caption(self) -> str:
        return f"{self.title}: {self.explanation}" if self.explanation else self.title

    @property
    def name(self) -> str:
        """The title without its trailing year ("Heat" for "Heat (1995)")."""
        if self.year is not None and self.title.endswith(f" ({self.year})"):
            return self.title[: -len(f" ({self.year})")]
        return self.title


@dataclass(frozen=True)
class ProfileItem:
    """One thing the profile panel shows, removable on its own: a movie the person liked or disliked in words,
    one they judged with a card's buttons ("more like this" is feedback, not a declared like), a genre rule, a
    name ruled out ("nothing with Al Pacino": a person, studio, franchise, topic or language), or what the pages
    lean towards ("something French").

    Example:
        >>> ProfileItem("no_genre", "Horror", "Horror").kind
        'no_genre'
    """

    kind: Literal["liked", "disliked", "more_like", "less_like", "no_genre", "only_genre", "no_name", "lean"]
    label: str
    key: int | str


@dataclass
class Session:
    """What one person told us in this chat: likes and dislikes (newest weigh most), genre rules, the last page.
    Likes said in words ("I loved Heat") are declared; a card's thumbs ("more like this") are ``feedback``: both
    steer the ranking, only declared likes name a "Because you liked" row.

    Example:
        >>> s = Session()
        >>> s.tell(6, True); s.tell(1721, False); s.tell(2571, True, declared=False)
        >>> sorted((m, i.liked) for m, i in s.history.items()), s.declared_likes()
        ([(6, True), (1721, False), (2571, True)], [6])
    """

    history: dict[int, Interaction] = field(default_factory=dict)
    exclude_genres: list[str] = field(default_factory=list)
    only_genres: list[str] = field(default_factory=list)
    page: list[Card] = field(default_factory=list)
    feedback: set[int] = field(default_factory=set)
    #: the titles the last "did you mean" offered, and whether the person had said they liked or disliked it: a
    #: "yes", "the second" or one of the titles answers it
    pending: list[int] = field(default_factory=list)
    pending_liked: bool = True
    #: the picks of pages the person moved past with "show me more" (not shown again), and the steer of the last
    #: page ("only 90s"), which "more" keeps
    passed: list[int] = field(default_factory=list)
    steer: str | None = None
    #: names ruled out for the rest of the session ("nothing with Al Pacino", "no Disney"), as the parser read
    #: them: (kind, payload values, label)
    excluded: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)
    #: the card the last "why" was about, which "not that one" and "more like this one" mean
    focus: int | None = None
    #: cards per page the person asked for ("give me 5 comedies"); None: the app's page size
    size: int | None = None
    _clock: float = 0.0
    revision: int = 0  # bumped on every save to a session store (app.sessions), so the newest copy wins

    def tell(self, movie_id: int, liked: bool, *, declared: bool = True) -> None:
        """Record a like or dislike now; saying it again about the same movie replaces what was said before.
        ``declared=False`` marks a card's thumbs (feedback on a pick) rather than something the person said."""
        self._clock = max(time.time(), self._clock + 1.0)
        self.history.pop(movie_id, None)
        self.history[movie_id] = Interaction(movie_id, liked=liked, timestamp=self._clock)
        (self.feedback.discard if declared else self.feedback.add)(movie_id)

    def forget(self, movie_id: int) -> bool:
        """Drop what the person said about a movie; False if they had said nothing about it."""
        self.feedback.discard(movie_id)
        return self.history.pop(movie_id, None) is not None

    def allow(self, genre: str) -> bool:
        """Drop the genre rule about ``genre`` ("no Horror" or "only Comedy"); False if there was none."""
        found = genre in self.exclude_genres or genre in self.only_genres
        self.exclude_genres = [g for g in self.exclude_genres if g != genre]
        self.only_genres = [g for g in self.only_genres if g != genre]
        return found

    def clear(self) -> None:
        self.history.clear()
        self.feedback.clear()
        self.exclude_genres.clear()
        self.only_genres.clear()
        self.passed.clear()
        self.steer = None
        self.excluded.clear()
        self.size = None

    def declared_likes(self) -> list[int]:
        """The movies the person said they liked, newest first (the anchors of "Because you liked" rows)."""
        return [m for m, i in reversed(self.history.items()) if i.liked and m not in self.feedback]

    def filters(self, passed: bool = True) -> Filters:
        """The session's rules as store filters, and the picks passed with "show me more" (``passed``: the chat's
        page leaves them out, the For you rows do not)."""
        return Filters(genres=list(self.only_genres), exclude_genres=list(self.exclude_genres),
                       exclude_ids=list(self.passed) if passed else [],
                       exclude=[Entity(kind, values, label, (0, 0), True).field() for kind, values, label in
                                self.excluded])

    def items(self, titles: dict[int, str]) -> list[ProfileItem]:
        """Everything the profile holds, in the order the panel shows it, each removable on its own.

        Example:
            >>> s = Session(); s.tell(6, True); s.exclude_genres.append("Horror")
            >>> [(i.kind, i.label) for i in s.items({6: "Heat (1995)"})]
            [('liked', 'Heat (1995)'), ('no_genre', 'Horror')]
        """
        def kind(m: int, i: Interaction) -> Literal["liked", "disliked", "more_like", "less_like"]:
            if m in self.feedback:
                return "more_like" if i.liked else "less_like"
            return "liked" if i.liked else "disliked"

        movies = [ProfileItem(kind(m, i), titles.get(m, str(m)), m) for m, i in self.history.items()]
        order = ["liked", "more_like", "disliked", "less_like"]
        movies.sort(key=lambda p: order.index(p.kind))  # stable: oldest first within a kind
        return (movies + [ProfileItem("no_genre", g, g) for g in self.exclude_genres]
                + [ProfileItem("only_genre", g, g) for g in self.only_genres]
                + [ProfileItem("no_name", label, label) for _, _, label in self.excluded]
                + ([ProfileItem("lean", self.steer, self.steer)] if self.steer else []))

    def profile(self, titles: dict[int, str]) -> dict[str, Any]:
        """The profile as plain data (for the API): declared likes and dislikes, card feedback, genre rules.

        Example:
            >>> s = Session(); s.tell(6, True); s.tell(2571, True, declared=False)
            >>> p = s.profile({6: "Heat (1995)", 2571: "The Matrix (1999)"})
            >>> p["liked"], p["more_like"], p["no_genres"]
            (['Heat (1995)'], ['The Matrix (1999)'], [])
        """
        items = self.items(titles)
        return {"liked": [i.label for i in items if i.kind == "liked"],
                "disliked": [i.label for i in items if i.kind == "disliked"],
                "more_like": [i.label for i in items if i.kind == "more_like"],
                "less_like": [i.label for i in items if i.kind == "less_like"],
                "no_genres": list(self.exclude_genres), "only_genres": list(self.only_genres),
                "no_names": [label for _, _, label in self.excluded]}


@dataclass
class Reply:
    """The chat's answer: a message, and a new page of cards when the ranking changed (None: keep the page)."""

    text: str
    cards: list[Card] | None = None
    explain: list[Recommendation] = field(default_factory=list)
    turn: str | None = None  # a button's action in the person's words ("More like Heat (1995)"), for the chat log


class SessionStore(Protocol):
    """Keeps sessions by key. ``resume`` returns the newest copy (the caller's own when nothing newer is kept)."""

    shared: bool

    def resume(self, key: str, local: Session) -> Session: ...
    def save(self, key: str, session: Session) -> None: ...


class MemorySessions:
    """Sessions of one process (Gradio's own per-session state holds them): nothing to share, nothing to load.

    Example:
        >>> s = Session(); MemorySessions().resume("k", s) is s
        True
    """

    shared = False

    def resume(self, key: str, local: Session) -> Session:
        return local

    def save(self, key: str, session: Session) -> None:
        session.revision += 1


def _dimensions(q: ParsedQuery) -> set[str]:
    """What a request sets that a later one replaces rather than adds to: a tone, newer or older, shorter or
    longer, more or less mainstream, years, runtimes."""
    return {name for name, on in (("tone", q.tone), ("newer", q.newer), ("shorter", q.shorter),
                                  ("obscure", q.obscure), ("years", q.year_min is not None or q.year_max is not None),
                                  ("runtime", q.runtime_min is not None or q.runtime_max is not None)) if on}


def _kinds(q: ParsedQuery) -> set[str]:
    """The kinds of thing a request asks for (people as one kind: "Nolan films" then "with Tom Hanks" is another
    request, not both)."""
    people = {"director", "actor", "writer", "person"}
    return {"person" if e.kind in people else e.kind for e in q.entities if not e.negated}


def _topic(q: ParsedQuery) -> bool:
    """Whether a request asks for a topic or description beyond a tone ("a heist that goes wrong")."""
    return bool(q.semantic) and q.semantic != TONES.get(q.tone)


class ChatService:
    """Turns chat messages and thumbs into recommendations for a :class:`Session`, over one shared
    :class:`Recommender`. Safe to share between sessions and threads: all state lives in the sessions.

    Example:
        >>> # svc = ChatService(Recommender.open("runs/index"))
        >>> # s = Session(); svc.respond(s, "I loved Heat and Alien, hated Titanic").text
    """

    def __init__(self, rec: Recommender, *, page_size: int = 8, explainer: ExplainerKind = "auto",
                 media_dir: str | Path | None = None, explain_budget_s: float | None = 6.0,
                 explain_wait_s: float = 2.0, sessions: SessionStore | None = None) -> None:
        from recommender.explain.service import load_explainer

        self.rec = rec
        self.sessions: SessionStore = sessions or MemorySessions()
        self.page_size = page_size
        # the one folder the app serves files from: checked copies of posters, title cards and charts
        self.media = Path(media_dir or tempfile.mkdtemp(prefix="cinefuse-media-")).resolve()
        self.media.mkdir(parents=True, exist_ok=True)
        if media_dir is None:  # a folder of our own: gone when the service is, not left in /tmp
            weakref.finalize(self, shutil.rmtree, self.media, True)
        self._images: dict[int, str] = {}
        self._rank_lock = threading.Lock()
        self._explain_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._template = TemplateExplainer()
        self.explain_wait_s = explain_wait_s
        self.stats: Counter[str] = Counter()  # explanations written, by which explainer
        rec.explainer = load_explainer(rec.settings, explainer)
        rec.text_encoder()  # loaded now, not inside the first person's request
        rec.vocabulary()  # so is the query parser's vocabulary (about a second for 10k movies)
        if hasattr(rec.explainer, "time_budget_s"):
            rec.explainer.time_budget_s = explain_budget_s
        self.titles = {m: p.get("display_title") or str(m) for m, p in rec.payloads.items()}

    def resume(self, key: str, session: Session) -> Session:
        """The newest copy of session ``key``: ``session`` itself, or the one another process saved after it (its
        page's images drawn again here)."""
        found = self.sessions.resume(key, session)
        if found is not session:
            for card in found.page:
                card.image = self.image(card.movie_id)
        return found

    def save(self, key: str, session: Session) -> None:
        """Keep ``session`` where every serving process can continue it (a no-op beyond a revision in memory)."""
        self.sessions.save(key, session)

    @property
    def explainer_name(self) -> str:
        return str(getattr(self.rec.explainer, "name", "template"))

    def media_dirs(self) -> list[Path]:
        """The folders the app may serve files from: only its own media folder, holding checked copies of the
        posters it has shown, the title cards it drew and the evaluation charts."""
        return [self.media]

    # ----- chat ---------------------------------------------------------------------------------------------
    def respond(self, session: Session, message: str) -> Reply:
        """Apply one chat message to the session and answer it.

        Example:
            >>> # svc.respond(session, "no horror").text  ->  'Got it: no Horror. Here are 8 picks.'
        """
        message = message or ""
        if len(message) > MAX_MESSAGE_CHARS:
            return Reply(f"That message is {len(message):,} characters long; I read up to {MAX_MESSAGE_CHARS:,} at a "
                         "time. Please send it in shorter parts.")
        pending, session.pending = session.pending, []
        if pending:
            chosen = self._accepted(message, pending)
            if chosen is not None:
                session.tell(chosen, session.pending_liked)
                verb = "liked" if session.pending_liked else "disliked"
                cards, recs, lead = self.page(session)
                return Reply(f"Noted: you {verb} {self.titles.get(chosen, str(chosen))}. {lead}", cards, recs)
        if _BARE_ANSWER.match(message):
            return Reply("There is nothing open to answer “yes” or “no” to. Tell me movies you liked or disliked, "
                         "or describe what you want.")
        req = parse_message(message, self._is_title)
        if req.forget:  # "forget Heat": what the panel's remove button does
            item = self._in_profile(session, req.forget)
            if item is None:
                return Reply(f"There is nothing called “{req.forget}” in your profile to remove; it lists what you "
                             "liked, disliked and ruled out.")
            return self.forget(session, item)
        notes: list[str] = []
        if req.reset:
            session.clear()
            notes.append("Starting over: I forgot your likes, dislikes and rules.")
        self._apply_titles(session, req, notes)
        parsed = self.rec.parse(req.steer) if req.steer else None  # once: the rules and "did you mean" read it
        self._apply_excluded(session, parsed, notes)
        if (req.steer and parsed and parsed.suggestions and not req.liked and not req.disliked
                and session.pending == [] and (not parsed.understood() or parsed.only_guessed())):  # "the matirx"
            return self._suggest(session, req.steer, parsed.suggestions, True, notes)
        if req.count:
            session.size = req.count
        self._apply_cards(session, req.card_liked, True, notes)
        self._apply_cards(session, req.card_disliked, False, notes)
        self._apply_genres(session, req, notes)
        why = [self._why(session, ref) for ref in req.why] + [self._about(session, pos, a) for pos, a in req.about]
        if req.thanks:
            why.append("Glad to help. Give any card a thumbs up or down, or ask for something else.")
        if req.help:
            why.append(HELP_TEXT)
        if req.undo:
            why.append("I keep no earlier pages to go back to. Remove a like, a dislike or a rule with its × in "
                       "“Your taste” (or say “forget Heat”), or say “start over”.")
        if req.seen_cards:
            self._pass_cards(session, req.seen_cards, notes)
        changed = req.changes_page() or (not session.page and not (req.about or req.thanks or req.help or req.undo))
        if req.is_empty() and (message or "").strip():
            notes.append("Tell me movies you liked or disliked (\"I loved Heat and Alien, hated Titanic\"), "
                         "describe what you want (\"a heist that goes wrong\"), or say \"no horror\".")
        if not changed:
            return Reply(" ".join(dict.fromkeys(notes + why)))  # a note said twice ("the first and the second")
        if req.picks and not req.steer and _SURPRISE.search(message):
            session.steer = None  # "surprise me": something else than the lean so far
        steer = self._next_steer(session, req.steer, parsed)
        if req.more or req.seen:  # the next picks of the same request: the same steer, none of the picks passed
            if req.seen and session.page:
                notes.append(f"Noted: you have seen those {len(session.page)}; I will not show them again.")
            session.passed = [*session.passed, *(c.movie_id for c in session.page)][-MAX_PASSED:]
            steer = session.steer
        cards, recs, lead = self.page(session, steer=steer)
        if req.more and not cards:
            session.passed.clear()
            notes.append("That was every pick I have for this; here they are again from the top.")
            cards, recs, lead = self.page(session, steer=steer)
        return Reply(" ".join(dict.fromkeys(notes + why + [lead])), cards, recs)

    def feedback(self, session: Session, position: int, liked: bool) -> Reply:
        """A thumbs up or down on the card at 1-based ``position``: the profile changes and the page re-ranks.
        The reply's ``turn`` says it in the person's words ("More like Heat (1995)").

        Example:
            >>> # svc.feedback(session, 1, liked=True).text  ->  'Noted: more like Heat (1995). 3 new picks.'
        """
        if position < 1:
            return Reply(f"Card numbers start at 1 (this page has {len(session.page)}); pick a card by its number."
                         if session.page else "There are no cards yet: tell me what you like first.")
        card = self._card_at(session, position)
        if card is None:
            return Reply(f"There is no card {position} on this page (it has {len(session.page)})."
                         if session.page else "There are no cards yet: tell me what you like first.")
        return self.rate(session, card.movie_id, liked)

    def rate(self, session: Session, movie: int | str, liked: bool) -> Reply:
        """A thumbs up or down on any movie the app showed (a page card, a row card, a poster hit), by movieId or
        title: feedback, not a declared like. The page re-ranks.

        Example:
            >>> # svc.rate(session, 6, liked=False).turn  ->  'Less like Heat (1995)'
        """
        movie_id = self.rec.resolve(movie)
        title = self.titles.get(movie_id, str(movie_id))
        session.tell(movie_id, liked, declared=False)
        cards, recs, lead = self.page(session)
        word = "more" if liked else "less"
        return Reply(f"Noted: {word} like {title}. {lead}", cards, recs, turn=f"{word.capitalize()} like {title}")

    def forget(self, session: Session, item: int | str) -> Reply:
        """Remove one thing from the profile: a movie (by movieId or title), a genre rule (by genre name, as
        the profile lists it), a name ruled out, or the lean (by its words). The page re-ranks.

        Example:
            >>> # svc.forget(session, "Horror").text  ->  'Horror is back. 2 new picks.'
        """
        excluded = [r for r in session.excluded if r[2] == item]
        if isinstance(item, str) and item == session.steer:  # the lean's chip
            session.steer = None
            note, turn = f"I no longer lean towards “{item}”.", f"Forget “{item}”"
        elif excluded:
            session.excluded.remove(excluded[0])
            note, turn = f"Removed the rule “no {item}”.", f"Remove the rule “no {item}”"
        elif isinstance(item, str) and (item in session.exclude_genres or item in session.only_genres):
            rule = "no" if item in session.exclude_genres else "only"
            session.allow(item)
            note, turn = f"Removed the rule “{rule} {item}”.", f"Remove the rule “{rule} {item}”"
        else:
            movie_id = self.rec.resolve(item)
            title = self.titles.get(movie_id, str(movie_id))
            said = session.history.get(movie_id)
            if said is None:
                return Reply(f"{title} is not in your profile.")
            what = ("“more like this”" if movie_id in session.feedback and said.liked
                    else "“less like this”" if movie_id in session.feedback
                    else "your likes" if said.liked else "your dislikes")
            session.forget(movie_id)
            note, turn = f"Removed {title} from {what}.", f"Forget {title}"
        cards, recs, lead = self.page(session)
        return Reply(f"{note} {lead}", cards, recs, turn=turn)

    def page(self, session: Session, steer: str | None = None) -> tuple[list[Card], list[Recommendation], str]:
        """A fresh page for the session. Template explanations are written at once; a language model's come
        after, from :meth:`explanations` (the returned recommendations are the ones still to explain). The lead
        sentence says what changed: how many picks are new since the last page. Without a ``steer``, the
        session's goes on: a like, a rule or a thumbs up after "something French" keeps to French films."""
        fresh = steer is not None and steer != session.steer
        steer = session.steer if steer is None else steer
        size = session.size or self.page_size
        history = list(session.history.values())
        flt = session.filters()
        shown = [c.movie_id for c in session.page if c.reason != "popular"]
        before = set(shown)
        notes: list[str] = []
        parsed = self.rec.parse(steer) if steer else None
        if steer and self.rec.mentions_nothing(steer):  # "asdkjh qwe": say so, and steer by nothing
            notes, steer, parsed = [UNKNOWN_WORDS_NOTE.format(steer)], None, None
        elif parsed and history and parsed.avoided and fresh:  # without likes, the search's own notes say it
            notes = [AVOIDED_NOTE.format(parsed.avoided)]
        session.steer = steer
        with self._rank_lock:
            if steer and not history:  # a request on its own: searched, with the honest note when few movies fit
                answer = self.rec.ask(steer, k=size, filters=None if flt.is_empty() else flt)
                recs, notes = answer.recommendations, answer.notes
            else:
                recs = self.rec.recommend(history, k=size, filters=None if flt.is_empty() else flt,
                                          diversity=0.85, steer=steer)
        cards = [self.card(r) for r in recs]
        session.page = cards
        if not recs:
            return cards, recs, " ".join([*notes, "Nothing matches those rules; try \"any genre\" or fewer "
                                                  "exclusions, or describe it another way."])
        compared = [word for word, on in (("newer", parsed.newer > 0), ("older", parsed.newer < 0),
                                          ("shorter", parsed.shorter > 0), ("longer", parsed.shorter < 0))
                    if on] if parsed else []  # "Thriller, but older" leaned towards "Thriller" alone
        said = ", ".join(dict.fromkeys(x for x in (parsed.describe(), parsed.said, *compared) if x)) if parsed else ""
        suffix = f", leaning towards “{said or steer}”" if steer else ""  # "from the 1990s", not "only 90s"
        new = len({c.movie_id for c in cards} - before)
        resized = not new and len(cards) != len(shown)  # "just 4 please": fewer (or more) of the same picks
        lead = (f"Here are {len(cards)} picks{suffix}." if not before or resized
                else f"{new} new pick{'s' if new != 1 else ''}{suffix}." if new
                else f"The same picks{suffix}, re-ranked." if [c.movie_id for c in cards] != shown
                else "The picks stay the same.")
        if not history:
            what = f"movies matching “{steer}”" if steer else "popular recent picks to start from"
            lead = " ".join([*notes, f"Here are {what}. Give them a thumbs up or down, or tell me what you liked."])
        elif steer and parsed and len(cards) < size and parsed.constrained():
            asked = parsed.describe()  # "Studio Ghibli films" once the liked ones are out: say so
            lead += (f" Only {len(cards)} movie{'s' if len(cards) != 1 else ''} you have not told me about "
                     f"{'fit' if len(cards) != 1 else 'fits'} {asked}.")
        if history and notes:
            lead = " ".join([*notes, lead])
        # every card, whatever put it on the page, is explained by the page's explainer: the app shows what the
        # Python API's recommend(explain=True) returns for the same page
        if isinstance(self.rec.explainer, TemplateExplainer):  # instant: one update instead of two
            for _ in self.explanations(session, recs):
                pass
            return cards, [], lead
        return cards, recs, lead

    def card(self, r: Recommendation) -> Card:
        # a search card says what in the movie answers the request (its match), never how popular it is
        explanation = (self._credits(r.movie_id) if r.reason == "search"
                       else self._popular_line(r.movie_id) if r.reason in ("popular", "similar") else "")
        image = self.image(r.movie_id)
        return Card(r.movie_id, r.title, image, r.explanation or explanation, r.reason, year=r.year,
                    genres=list(r.genres), poster=Path(image).name.startswith("poster-"))

    def explanations(self, session: Session, recs: list[Recommendation]) -> Iterator[int]:
        """Write each card's explanation, yielding the card's index as it lands (the top one first).

        One page at a time uses the language model; a page that would wait longer than ``explain_wait_s`` for
        it (the model is busy with other sessions) gets the template sentences from the same evidence instead,
        so a busy app stays responsive and every explanation is still true.
        """
        if not recs:
            return
        from recommender.explain.service import page_evidence

        history = list(session.history.values())
        cards = session.page
        with self._rank_lock:
            evidence = page_evidence(self.rec, recs, history)
        model = self.rec.explainer
        got = self._explain_lock.acquire(timeout=self.explain_wait_s)
        try:
            explainer = model if got else self._template
            for index, text in explainer.stream(evidence):
                with self._stats_lock:
                    self.stats[str(getattr(explainer, "name", "template")) if got else "template (model busy)"] += 1
                if cards is session.page and index < len(cards):
                    cards[index].explanation = text
                    yield index
            self._distinct(cards)
        finally:
            if got:
                self._explain_lock.release()

    # ----- the other views ----------------------------------------------------------------------------------
    def rows(self, session: Session) -> dict[str, list[Card]]:
        """Home-page rows for the session (cold-start rows when it is empty): each movie in one row at most, the
        session's genre rules in every row, "Because you liked X" only for movies the person said they liked,
        and each card's line written for that card from the evidence of its row (templates: instant and true).

        Example:
            >>> # list(svc.rows(session))  ->  ['Top picks for you', 'Because you liked Heat (1995)', ...]
        """
        from recommender.explain.service import page_evidence

        history = list(session.history.values())
        flt = session.filters(passed=False)
        declared = session.declared_likes()
        anchors = {f"Because you liked {self.titles.get(m, str(m))}": m for m in declared}
        with self._rank_lock:
            rows = self.rec.rows(history, k=self.page_size, filters=None if flt.is_empty() else flt,
                                 because=declared)
            for name, recs in rows.items():
                basis = [session.history[anchors[name]]] if name in anchors else history
                explain = [r for r in recs if r.reason != "popular"]
                if basis and explain:
                    for r, text in zip(explain, self._template.explain(page_evidence(self.rec, explain, basis)),
                                       strict=True):
                        r.explanation = text
        out = {name: [self.card(r) for r in recs] for name, recs in rows.items()}
        self._distinct([c for cards in out.values() for c in cards])
        return out

    def poster_search(self, text: str) -> tuple[str, list[Card]]:
        """Movies whose posters look like ``text`` (CLIP); plot and review search where the index has no posters."""
        text = (text or "").strip()
        if not text:
            return "Describe a poster, e.g. “a lone astronaut in space”.", []
        posters = "poster" in self.rec.signals
        with self._rank_lock:
            recs = self.rec.search(text, k=self.page_size, by="poster" if posters else "fused")
        note = (f"Posters that look like “{text}”." if posters else "This index was built without poster vectors "
                f"(no CLIP weights were available), so these match “{text}” by plot and reviews instead.")
        return note, [self.card(r) for r in recs]

    def image(self, movie_id: int) -> str:
        """The movie's poster (a checked copy in the media folder), or a generated title card where there is none
        or its file is not an image."""
        known = self._images.get(movie_id)
        if known is not None:
            return known
        poster = self.rec.payloads.get(movie_id, {}).get("poster")
        copied = None
        if isinstance(poster, str) and Path(poster).is_file():
            copied = copy_image(Path(poster), self.media / f"poster-{movie_id}")
        if copied is None:
            copied = self.media / f"card-{movie_id}.png"
            payload = self.rec.payloads.get(movie_id, {})
            _title_card(self.titles.get(movie_id, str(movie_id)), copied, payload.get("year"),
                        list(payload.get("genres") or []))
        self._images[movie_id] = str(copied)
        return str(copied)

    # ----- helpers ------------------------------------------------------------------------------------------
    def _is_title(self, text: str) -> bool:
        # exact (or an alias, or a franchise's name): a fuzzy match would swallow "X and Y"
        return bool(self.rec.titles.exact(text) or self.rec.titles.series(text))

    def _resolve(self, text: str) -> tuple[int | None, list[str]]:
        """The movie a typed title means (the most-rated one where several share the title), or suggestions."""
        exact = self.rec.titles.exact(text)
        if exact:
            return max(exact, key=lambda m: self.rec.payloads.get(m, {}).get("rating_count") or 0), []
        try:
            return self.rec.titles.resolve(text), []
        except TitleNotFound as err:
            return None, list(err.candidates)

    def _apply_titles(self, session: Session, req: Request, notes: list[str]) -> None:
        said: dict[bool, list[str]] = {True: [], False: []}
        wanted: dict[str, tuple[bool, str]] = {}  # "Heat and Heat and Heat" is one like; the last word wins
        for liked, texts in ((True, req.liked), (False, req.disliked)):
            for text in texts:
                wanted[" ".join(text.lower().split())] = (liked, text)
        if len(wanted) > MAX_TITLES:
            notes.append(f"I took the first {MAX_TITLES} titles of that message; tell me the rest in another one.")
        for liked, text in list(wanted.values())[:MAX_TITLES]:
            series = self.rec.titles.series(text)  # "I loved Harry Potter": its most-rated films
            for member in series:
                session.tell(member, liked)
                said[liked].append(self.titles[member])
            if series:
                continue
            movie_id, options = self._resolve(text)
            # "I love Studio Ghibli films like Spirited Away", "..., something from the 2000s": not a title but a
            # request; its references are likes, the rest steers the page ("Toy Story from the 80s" too). "Toy
            # Story 4", where there is none, is a title to ask about
            if movie_id is None and liked and not sequel_number(text):
                parsed = self.rec.parse(text)
                if not parsed.references:
                    like = self.rec.parse(f"like {text}")
                    parsed, text = (like, f"like {text}") if like.references else (parsed, text)
                options = parsed.suggestions or options  # the parser's are the closest titles, most rated first
                if parsed.understood() and not parsed.only_guessed():
                    for ref in parsed.references:
                        session.tell(ref, True)
                        said[True].append(self.titles.get(ref, str(ref)))
                    rest = " ".join(e.describe() for e in parsed.entities) or None
                    asked = text if parsed.entities or parsed.constrained() else None
                    req.steer = " ".join(x for x in (asked, req.steer) if x) or rest
                    continue
            if movie_id is None:
                hint = f" Did you mean {describe_list(options[:3])}?" if options else ""
                notes.append(f"I don't know a movie called “{text}”.{hint}")
                ids = [m for m in (self._resolve(o)[0] for o in options[:3]) if m is not None]
                if ids:
                    session.pending, session.pending_liked = ids, liked
                continue
            session.tell(movie_id, liked)
            if self.titles[movie_id] not in said[liked]:
                said[liked].append(self.titles[movie_id])
        parts = [f"you liked {describe_list(said[True])}" if said[True] else "",
                 f"you disliked {describe_list(said[False])}" if said[False] else ""]
        if any(parts):
            notes.insert(0, "Noted: " + " and ".join(p for p in parts if p) + ".")

    def _apply_excluded(self, session: Session, parsed: ParsedQuery | None, notes: list[str]) -> None:
        """Names a request rules out ("nothing with Al Pacino", "no Disney") hold for the rest of the session, as
        genre rules do; the rest of the request is the pages' lean (see :meth:`_next_steer`)."""
        if parsed is None:
            return
        said = []
        for e in parsed.entities:
            rule = (e.kind, tuple(str(v) for v in e.values), e.label)
            if e.negated and e.kind not in ("genre", "decade") and rule not in session.excluded:
                session.excluded.append(rule)
                said.append(e.describe())
        if said:
            notes.append(f"Got it: {describe_list(said)}, from now on.")

    def _apply_cards(self, session: Session, positions: list[int], liked: bool, notes: list[str]) -> None:
        for pos in positions:
            found = self._movie_at(session, pos)
            if found is None:
                notes.append("Which one? Name it or its place (“not the second one”)." if pos == 0 and session.page
                             else f"There is no card {pos} on this page (it has {len(session.page)})."
                             if session.page else "There are no cards yet: tell me what you like first.")
                continue
            movie, title = found
            session.tell(movie, liked, declared=False)
            notes.append(f"Noted: {'more' if liked else 'less'} like {title}.")

    def _apply_genres(self, session: Session, req: Request, notes: list[str]) -> None:
        if req.any_genre:
            session.exclude_genres.clear()
            session.only_genres.clear()
            notes.append("All genres are back.")
            if session.steer and any(e.kind == "genre" for e in self.rec.parse(session.steer).entities):
                notes.append(f"I no longer lean towards “{session.steer}”.")  # "something funny" was a genre too
                session.steer = None
        for g in req.exclude_genres:
            if g not in session.exclude_genres:
                session.exclude_genres.append(g)
            if g in session.only_genres:
                session.only_genres.remove(g)
        for g in req.only_genres:
            if g not in session.only_genres:
                session.only_genres.append(g)
            if g in session.exclude_genres:
                session.exclude_genres.remove(g)
        if req.exclude_genres:
            notes.append(f"Got it: no {describe_list(req.exclude_genres)}.")
        if req.only_genres:
            notes.append(f"Only {describe_list(req.only_genres)} from now on.")

    def _suggest(self, session: Session, text: str, titles: list[str], liked: bool, notes: list[str]) -> Reply:
        """Ask "did you mean ..." and remember the offered titles, so "yes" or "the second" answers it."""
        ids = [m for m in (self._resolve(t)[0] for t in titles[:3]) if m is not None]
        session.pending, session.pending_liked = ids, liked
        names = [self.titles.get(m, str(m)) for m in ids]
        return Reply(" ".join([*notes, f"I don't know a movie called “{text}”. Did you mean {describe_list(names)}?"]))

    def _accepted(self, message: str, pending: list[int]) -> int | None:
        """Which offered title a reply to "did you mean" accepts: "yes" (the first), "the second", "yes, The
        Matrix" or the title itself; None when the message is about something else.

        Example:
            >>> # svc._accepted("yes", [2571]) -> 2571; svc._accepted("the second one", [1, 2]) -> 2
        """
        text = " ".join(message.split()).strip(" .!")
        yes = re.match(r"^(?:yes|yeah|yep|yup|sure|ok(?:ay)?|right|correct|exactly|that one|i did)\b[\s,.!:-]*",
                       text, re.I)
        rest = text[yes.end():] if yes else text
        rest = re.sub(r"^(?:i\s+meant?|i\s+mean|it'?s|it\s+is|please)\s+", "", rest, flags=re.I).strip(" .!")
        if not rest:
            return pending[0] if yes else None
        pos = ordinal(rest)
        if pos is not None and len(rest.split()) <= 3:
            return pending[pos - 1] if 1 <= pos <= len(pending) else pending[-1] if pos == -1 else None
        found = self.rec.titles.exact(rest)
        chosen = [m for m in pending if m in found]
        if chosen:
            return chosen[0]
        return pending[0] if yes and len(pending) == 1 else None

    def _next_steer(self, session: Session, said: str | None, parsed: ParsedQuery | None) -> str | None:
        """What the next page leans towards: the session's lean, narrowed by a message that only rules out,
        bounds or compares ("something French", then "less romance" or "from the 90s") or that names a topic
        beside a lean of constraints alone ("a documentary", then "about music"), replaced by one that asks for
        something else ("something Japanese", "a horror film", a topic after a topic); None keeps the session's."""
        if not said or parsed is None or not session.steer:
            return said
        old = self.rec.parse(session.steer)
        refines = (not parsed.semantic or parsed.tone_only()) and all(e.negated for e in parsed.entities)
        narrows = not _topic(old) and not (_kinds(parsed) & _kinds(old))
        if parsed.references or not (refines or narrows) or said in session.steer:
            return said
        asked = _dimensions(parsed)  # "darker", then "lighter": the new tone replaces the old one
        kept = ", ".join(p for p in session.steer.split(", ") if not _dimensions(self.rec.parse(p)) & asked)
        if not kept:
            return said
        before = self.rec.parse(kept)  # "something French" is read as "in French" once words follow it
        return f"{before.describe() if not before.semantic and before.describe() else kept}, {said}"

    def _movie_at(self, session: Session, pos: int) -> tuple[int, str] | None:
        """The movie and title a card's place names; for "that one", the movie last asked about, on the page or
        not ("tell me about The Matrix" then "who directed it?")."""
        card = self._card_at(session, pos)
        if card is not None:
            return card.movie_id, card.title
        if pos == 0 and session.focus is not None:
            return session.focus, self.titles.get(session.focus, str(session.focus))
        return None

    def _card_at(self, session: Session, pos: int) -> Card | None:
        if pos == 0:  # "that one": the card the last "why" was about
            return next((c for c in session.page if c.movie_id == session.focus), None)
        if -len(session.page) <= pos < 0:  # "the last one", "the last two": counted from the end
            return session.page[pos]
        return session.page[pos - 1] if 1 <= pos <= len(session.page) else None

    def _in_profile(self, session: Session, text: str) -> int | str | None:
        """What of the profile ``text`` names, as :meth:`forget` takes it: a genre rule ("horror"), a ruled-out name
        ("Al Pacino"), a movie said about ("heat", "Heat (1995)") or the lean ("the French", "that lean"); None if
        nothing there is called that."""
        key = re.sub(r"^(?:the|my)\s+", "", text.strip(), flags=re.I)
        genre = GENRE_WORDS.get(key.lower(), key)
        rule = next((g for g in [*session.exclude_genres, *session.only_genres] if g.lower() == genre.lower()), None)
        label = next((r[2] for r in session.excluded if r[2].lower() == key.lower()), None)
        wanted = {normalize_title(text), normalize_title(key)}
        movie = next((m for m in session.history if normalize_title(self.titles.get(m, "")) in wanted
                      or normalize_title(re.sub(r"\s*\(\d{4}\)$", "", self.titles.get(m, ""))) in wanted), None)
        words = re.sub(r"^(?:the|my|that)\s+", "", text.strip(), flags=re.I).lower()
        lean = session.steer if session.steer and len(words) >= 3 and (
            words in session.steer.lower() or words in ("lean", "search")) else None
        return rule or label or movie or lean

    def _pass_cards(self, session: Session, positions: list[int], notes: list[str]) -> None:
        cards = [c for c in (self._movie_at(session, p) for p in positions) if c is not None]
        if not cards:
            notes.append("Which one? Name it or its place (“I've seen the second one”)." if positions == [0]
                         else "There are no such cards on this page." if session.page else "There are no cards yet.")
            return
        session.passed = [*session.passed, *(movie for movie, _ in cards)][-MAX_PASSED:]
        notes.append(f"Noted: you have seen {describe_list([title for _, title in cards])}; I will not show "
                     f"{'it' if len(cards) == 1 else 'them'} again.")

    def _about(self, session: Session, ref: int | str, aspect: str) -> str:
        """A movie's fact, as asked of a card ("how long is the second one?") or a title ("who's in Heat?"), from
        its payload; the page stays."""
        if isinstance(ref, str):
            movie_id, _ = self._resolve(ref)
            if movie_id is None:
                return f"I don't know a movie called “{ref}”."
        else:
            found = self._movie_at(session, ref)
            if found is None and ref == 0 and session.history:  # "I loved The Godfather", then "how long is it?"
                last = next(reversed(session.history))
                found = last, self.titles.get(last, str(last))
            if found is None:
                return ("Which one? Name it or its place (“who directed Heat?”, “how long is the second one?”)."
                        if ref == 0 else f"There is no card {ref} on this page." if session.page
                        else "There are no cards yet.")
            movie_id = found[0]
        title = self.titles.get(movie_id, str(ref))
        session.focus = movie_id  # "who directed it?", "more like that one" next
        p = self.rec.payloads.get(movie_id, {})
        people = p.get("directors") or []
        cast = (p.get("cast") or [])[:3]
        overview = " ".join(split_sentences(p.get("overview") or "")[:2])
        facts = {
            "runtime": f"{title} runs {p['runtime']} minutes." if p.get("runtime") else "",
            "director": f"{title} is directed by {describe_list(people)}." if people else "",
            "cast": f"{title} stars {describe_list(cast)}." if cast else "",
            "plot": f"{title}: {overview[:400]}" if overview else "",
            "year": f"{p.get('title') or title} came out in {p['year']}." if p.get("year") else "",
            "rating": (f"{title} averages {p['rating_mean']:.1f}★ from {p.get('rating_count', 0):,} ratings here."
                       if p.get("rating_mean") else ""),
            "streaming": (f"I can't tell where {title} streams: the data here holds no streaming services, only "
                          "what the films are."),
        }
        return facts[aspect] or f"The data here does not say that about {title}."

    def _why(self, session: Session, ref: int | str) -> str:
        if isinstance(ref, int):
            card = self._card_at(session, ref)
            if card is None:
                return f"There is no card {ref} on this page." if session.page else "There are no cards yet."
        else:
            movie_id, options = self._resolve(ref)
            match = [c for c in session.page if c.movie_id == movie_id]
            if not match:
                hint = f" Did you mean {describe_list(options[:3])}?" if options else ""
                return f"“{ref}” is not on this page.{hint}"
            card = match[0]
        session.focus = card.movie_id
        return f"Why {card.title}? {self._reason(session, card)}"

    def _reason(self, session: Session, card: Card) -> str:
        if card.explanation:
            return card.explanation
        from recommender.explain.service import page_evidence

        rec = Recommendation.from_payload(card.movie_id, self.rec.payloads.get(card.movie_id, {}), 0.0,
                                          reason=card.reason)
        with self._rank_lock:
            evidence = page_evidence(self.rec, [rec], list(session.history.values()))
        return self._template.explain(evidence)[0]  # at once, even while the model writes the page's sentences

    def _popular_line(self, movie_id: int) -> str:
        """Facts about this movie for a card no history explains: how people rated it here, who made it."""
        p = self.rec.payloads.get(movie_id, {})
        count, mean = p.get("rating_count") or 0, p.get("rating_mean")
        rated = f"{count:,} rating{'s' if count != 1 else ''} here, {mean:.1f}★ on average." if mean else ""
        return " ".join(x for x in (rated, self._credits(movie_id)) if x) or "A well-known film."

    def _credits(self, movie_id: int) -> str:
        p = self.rec.payloads.get(movie_id, {})
        directors, cast = list(p.get("directors") or [])[:2], list(p.get("cast") or [])[:2]
        if directors:
            return f"Directed by {describe_list(directors)}" + (f", with {describe_list(cast)}." if cast else ".")
        if cast:
            return f"With {describe_list(cast)}."
        genres, year = [g.lower() for g in p.get("genres") or []][:2], p.get("year")
        kind = " and ".join(genres)
        return f"{'An' if kind[:1] in 'aeiou' else 'A'} {kind} film from {year}." if genres and year else ""

    def _distinct(self, cards: list[Card]) -> None:
        """Where two cards would read the same (two movies can share an anchor, a template and a count), the later
        one also says who made it, so every line is about its own card."""
        said: set[str] = set()
        for card in cards:
            if card.explanation in said:
                card.explanation = f"{card.explanation} {self._credits(card.movie_id)}".strip()
            said.add(card.explanation)


def friendly(err: BaseException) -> str:
    """The message a person sees for an error: ours say what to do; anything else is logged, never shown.

    Example:
        >>> friendly(CinefuseError("no index at runs/index: build one first"))
        'no index at runs/index: build one first'
    """
    if isinstance(err, CinefuseError):
        return str(err)
    log.exception("chat handler failed", exc_info=err)
    return SORRY


IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}


def copy_image(source: Path, target: Path, max_bytes: int = 10 << 20) -> Path | None:
    """Copy ``source`` to ``target`` (plus the suffix of its format) only if it is a real image (JPEG, PNG, WebP or
    GIF, under ``max_bytes``): whatever a poster path points at, the app serves nothing but pictures. None (and a
    warning) otherwise.

    Example:
        >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "x.jpg").write_text("root:x:0:0")
        >>> copy_image(d / "x.jpg", d / "out") is None
        True
    """
    from PIL import Image, UnidentifiedImageError

    try:
        data = source.read_bytes() if source.stat().st_size <= max_bytes else b""
        with Image.open(io.BytesIO(data)) as img:
            kind = img.format
            img.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        log.warning("poster %s is not an image the app can show (%s); a title card stands in", source, exc)
        return None
    if kind not in IMAGE_FORMATS:
        log.warning("poster %s is a %s image; a title card stands in", source, kind)
        return None
    final = target.with_name(target.name + IMAGE_FORMATS[kind])
    tmp = target.with_name(f".{target.name}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(final)
    return final


def _title_card(title: str, path: Path, year: int | None = None, genres: list[str] | None = None) -> None:
    """A poster-sized title card for a movie without a poster file (what API galleries show): the title, year and
    genres drawn at twice the poster's 182x268, so at poster size the title is 20 px and the rest 14-15 px."""
    from PIL import Image, ImageDraw, ImageFont

    width, height, pad = 364, 536, 24
    img = Image.new("RGB", (width, height), (38, 42, 58))
    draw = ImageDraw.Draw(img)

    def lines(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> list[str]:
        out: list[str] = []
        for word in text.split():
            if out and draw.textlength(f"{out[-1]} {word}", font=font) <= width - 2 * pad:
                out[-1] = f"{out[-1]} {word}"
            else:
                out.append(word)
        return out

    name = title[: -len(f" ({year})")] if year and title.endswith(f" ({year})") else title
    big, mid, small = ImageFont.load_default(40), ImageFont.load_default(30), ImageFont.load_default(28)
    blocks = [(lines(name, big)[:7], big, 50, (245, 246, 250)), ([str(year)] if year else [], mid, 38, (205, 208, 220)),
              (lines(" · ".join((genres or [])[:3]), small)[:3], small, 35, (185, 190, 205))]
    y = max(pad, (height - sum(len(text) * step + 12 for text, _, step, _ in blocks)) // 2)
    for text, font, step, colour in blocks:
        for line in text:
            draw.text((pad, y), line, font=font, fill=colour)
            y += step
        y += 12
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp.png")
    img.save(tmp)
    tmp.replace(path)
