"""The Gradio app behind ``cinefuse serve``: a chat beside a page of explained picks (each card with its own
thumbs), a profile panel whose every entry can be removed, home-page rows, a text-to-poster search, and the
evaluation (the newest report, or a quick one run from the page).

The page is HTML from :mod:`app.views` (real buttons, alt text, title cards as text); the gradio_client API keeps
its documented endpoints (``/chat``, ``/thumbs_up``, ``/thumbs_down``, ``/rows``, ``/poster_search``, plus
``/forget``) on the same sessions, with galleries and plain data. Every handler turns errors into a friendly chat
message (see :func:`app.session.friendly`); no file path comes from what a person types, and every file shown is
a checked copy in the service's media folder.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - analytics must be off before gradio is imported

from app import views  # noqa: E402
from app.session import MAX_MESSAGE_CHARS, Card, ChatService, Reply, Session, friendly  # noqa: E402

ROW_SLOTS = 5
GalleryValue = list[tuple[str, str]]
Messages = list[dict[str, Any]]

EXAMPLES = ["I loved Heat and Alien, hated Titanic", "something like Toy Story but darker", "no horror",
            "less mainstream", "more like the third one", "why the second?"]
WELCOME = ("**Tell me movies you loved or hated** and I'll pick what to watch next, saying why for each.\n\n"
           "Try “I loved Heat and Alien, hated Titanic”, then “no horror” or “why the second?”.")


def gallery(cards: list[Card]) -> GalleryValue:
    """Gallery items (image, caption) for cards (what API clients get).

    Example:
        >>> gallery([Card(1, "Up (2009)", "/p/1.jpg", "Because you liked Cars.")])
        [('/p/1.jpg', 'Up (2009): Because you liked Cars.')]
    """
    return [(c.image, c.caption()) for c in cards]


def card_list(cards: list[Card]) -> str:
    """The page as a numbered list with every explanation in full (what API clients read).

    Example:
        >>> card_list([Card(1, "Up (2009)", "/p/1.jpg", "Because you liked Cars.")])
        '1. **Up (2009)** — Because you liked Cars.'
    """
    return "\n".join(f"{i}. **{c.title}**" + (f" — {c.explanation}" if c.explanation else "")
                     for i, c in enumerate(cards, 1))


def card_titles(listing: str) -> list[str]:
    """The titles in a :func:`card_list`, in order (how API clients read the page back).

    Example:
        >>> card_titles(card_list([Card(1, "Up (2009)", "/p/1.jpg", "Because you liked Cars."),
        ...                        Card(2, "Heat (1995)", "/p/2.jpg")]))
        ['Up (2009)', 'Heat (1995)']
    """
    return re.findall(r"^\d+\. \*\*(.+?)\*\*", listing, re.M)


def session_id(request: gr.Request) -> str:
    """The key a session is kept under: Gradio's session id (one per browser tab or ``gradio_client.Client``), the
    same whichever serving process answers.

    Example:
        >>> session_id(gr.Request(session_hash="abc"))
        'abc'
    """
    return request.session_hash or f"anonymous-{uuid.uuid4()}"


def latest_eval_dir(root: str | Path) -> Path | None:
    """The most recently written evaluation folder (one holding ``report.md``) at or under ``root``.

    Example:
        >>> latest_eval_dir("/nonexistent") is None
        True
    """
    root = Path(root)
    if not root.is_dir():
        return None
    found = [p.parent for p in [root / "report.md", *root.glob("*/report.md")] if p.is_file()]
    return max(found, key=lambda p: (p / "report.md").stat().st_mtime) if found else None


def publish_charts(eval_dir: Path, target: Path) -> list[Path]:
    """Copy an evaluation's PNG charts (checked to be images) into the app's media folder, the only place the
    app serves files from, and return the copies.

    Example:
        >>> publish_charts(Path("/nonexistent"), Path("/tmp/unused"))
        []
    """
    from app.session import copy_image

    target.mkdir(parents=True, exist_ok=True)
    copies = [copy_image(chart, target / chart.stem) for chart in sorted(eval_dir.glob("*.png"))]
    return [c for c in copies if c is not None]


class _Evaluation:
    """The Evaluation tab's state, shared by every session: the newest report, and the one quick run at a time."""

    def __init__(self, service: ChatService, eval_root: str | Path | None) -> None:
        self.service = service
        self.root = Path(eval_root) if eval_root else None
        self.dir = latest_eval_dir(self.root) if self.root else None
        self.quick = False
        self.charts = publish_charts(self.dir, service.media / "eval") if self.dir else []
        self.lock = threading.Lock()

    def view(self) -> tuple[Any, ...]:
        """(note, charts, report, run button, progress box) for the tab."""
        if self.dir is None:
            from app.evaluation import QUICK_USERS

            note = (f"**No evaluation report yet.** Run a quick one here: protocol A (each person's latest 20% of "
                    f"ratings held out) on {QUICK_USERS} people sampled with a fixed seed, every model "
                    "`cinefuse evaluate` compares; under a minute on ml-latest-small. For the full table with "
                    "intervals: `cinefuse evaluate --data ../shared/data --out runs/eval`.")
            return note, "", "", gr.update(visible=True), gr.update(visible=False)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime((self.dir / "report.md").stat().st_mtime))
        kind = "Quick evaluation (a sample of users)" if self.quick else "Newest evaluation"
        note = f"**{kind}:** `{self.dir.name}`, written {when}."
        return (note, views.charts(self.charts), (self.dir / "report.md").read_text(), gr.update(visible=False),
                gr.update(visible=False))

    def run(self, progress: Callable[[float, str], None]) -> None:
        import tempfile

        from app.evaluation import quick_evaluation

        if not self.lock.acquire(blocking=False):
            raise gr.Error("An evaluation is already running (started from another tab); it will show here "
                           "when it is done.")
        try:
            base = self.root if self.root is not None else Path(tempfile.mkdtemp(prefix="cinefuse-eval-"))
            out = quick_evaluation(self.service.rec, base / "quick-eval", progress=progress)
            self.charts = publish_charts(out, self.service.media / "eval-quick")
            self.dir, self.quick = out, True
        finally:
            self.lock.release()


def build_app(service: ChatService, *, eval_root: str | Path | None = None) -> gr.Blocks:
    """The Gradio Blocks app over one :class:`ChatService` (each browser or client session gets its own profile).

    Example:
        >>> # build_app(ChatService(Recommender.open("runs/index"))).launch(css=views.CSS)
    """
    evaluation = _Evaluation(service, eval_root)

    # ----- one conversation step, shared by the page and the API ----------------------------------------------
    def converse(session: Session, messages: Messages | None, act: Callable[[], Reply], said: str | None = None,
                 echo: bool = True) -> Iterator[tuple[Messages, list[Card] | None, bool, Reply | None]]:
        """Snapshots (messages, new page or None, explanations pending, reply) of one step: the person's turn at
        once (``echo``: a page shows it before the answer; an API client only wants the answer), then the reply and
        its page, then the page again as its explanations are written."""
        messages = list(messages or [])
        if said is not None:
            messages.append({"role": "user", "content": said})
            if echo:
                yield messages, None, False, None
        try:
            reply = act()
        except Exception as err:  # noqa: BLE001 - every failure becomes a message, never a stack trace
            messages.append({"role": "assistant", "content": friendly(err)})
            yield messages, None, False, None
            return
        if reply.turn:
            messages.append({"role": "user", "content": reply.turn})
        messages.append({"role": "assistant", "content": reply.text})
        yield messages, reply.cards, bool(reply.cards and reply.explain), reply
        if not (reply.cards and reply.explain):
            return
        last = time.perf_counter()
        try:
            for _ in service.explanations(session, reply.explain):
                if time.perf_counter() - last > 0.75:
                    yield messages, session.page, True, reply
                    last = time.perf_counter()
        except Exception as err:  # noqa: BLE001
            messages.append({"role": "assistant", "content": friendly(err)})
        yield messages, session.page, False, reply

    def said_step(message: str, messages: Messages | None, session: Session, echo: bool = True
                  ) -> Iterator[tuple[Any, ...]]:
        if not (message or "").strip():  # nothing said: no empty bubbles, the page stays
            yield list(messages or []), None, False, None
            return
        yield from converse(session, messages, lambda: service.respond(session, message), said=message, echo=echo)

    # ----- the page ------------------------------------------------------------------------------------------
    def page_view(session: Session, cards: list[Card] | None, pending: bool) -> Any:
        return gr.skip() if cards is None else views.card_grid(
            cards, pending=pending, empty="Nothing matches your rules; remove one in Your taste, or say “any genre”.")

    def profile_view(session: Session) -> str:
        return views.profile_panel(session.items(service.titles))

    def to_page(key: str, session: Session, steps: Iterator[tuple[Any, ...]], clear_box: bool = True
                ) -> Iterator[tuple[Any, ...]]:
        for messages, cards, pending, _ in steps:
            service.save(key, session)
            yield messages, page_view(session, cards, pending), profile_view(session), "" if clear_box else gr.skip(), \
                session

    def chat_page(message: str, messages: Messages | None, session: Session, request: gr.Request
                  ) -> Iterator[tuple[Any, ...]]:
        sid = session_id(request)
        session = service.resume(sid, session)
        yield from to_page(sid, session, said_step(message, messages, session))

    def card_click(evt: gr.EventData, messages: Messages | None, session: Session, request: gr.Request
                   ) -> Iterator[tuple[Any, ...]]:
        data = evt._data or {}
        liked = data.get("act") == "up"
        sid = session_id(request)
        session = service.resume(sid, session)
        act = lambda: service.rate(session, int(data["movie"]), liked)  # noqa: E731
        yield from to_page(sid, session, converse(session, messages, act), clear_box=False)

    def profile_click(evt: gr.EventData, messages: Messages | None, session: Session, request: gr.Request
                      ) -> Iterator[tuple[Any, ...]]:
        key: str = (evt._data or {}).get("key", "")
        item: int | str = int(key) if key.isdigit() else key
        sid = session_id(request)
        session = service.resume(sid, session)
        act = lambda: service.forget(session, item)  # noqa: E731
        yield from to_page(sid, session, converse(session, messages, act), clear_box=False)

    def start(session: Session, request: gr.Request) -> tuple[Any, ...]:
        """A new visitor's page: popular recent picks to react to."""
        try:
            sid = session_id(request)
            session = service.resume(sid, session)
            if not session.page:
                service.page(session)
                service.save(sid, session)
            return views.card_grid(session.page), profile_view(session), session
        except Exception as err:  # noqa: BLE001
            return views.card_grid([], empty=friendly(err)), profile_view(session), session

    def rows_view(session: Session) -> str:
        try:
            found = service.rows(session)
        except Exception as err:  # noqa: BLE001
            return views.row_strips({}, friendly(err))
        note = "" if session.history else "Tell the chat what you like to get your own rows; until then:"
        return views.row_strips(found, note)

    def rows_page(session: Session, request: gr.Request) -> str:
        try:
            session = service.resume(session_id(request), session)
        except Exception as err:  # noqa: BLE001
            return views.row_strips({}, friendly(err))
        return rows_view(session)

    def tile_click(evt: gr.EventData, messages: Messages | None, session: Session, request: gr.Request,
                   refresh: bool) -> tuple[Any, ...]:
        """A thumbs on a row card or a poster hit: the chat and the page change (said in a toast, since the chat is
        on another tab), and the rows are drawn again without that movie."""
        data = evt._data or {}
        liked = data.get("act") == "up"
        final: tuple[Any, ...] = ()
        reply = None
        sid = session_id(request)
        session = service.resume(sid, session)
        for said, cards, _, step in converse(session, messages,
                                             lambda: service.rate(session, int(data["movie"]), liked)):
            final, reply = (said, page_view(session, cards, False), profile_view(session), session), step
        service.save(sid, session)
        gr.Info(reply.text if reply is not None else str(final[0][-1]["content"]))
        return (*final, rows_view(session) if refresh else gr.skip())  # the session is already current

    def row_click(evt: gr.EventData, messages: Messages | None, session: Session, request: gr.Request
                  ) -> tuple[Any, ...]:
        return tile_click(evt, messages, session, request, refresh=True)

    def hit_click(evt: gr.EventData, messages: Messages | None, session: Session, request: gr.Request
                  ) -> tuple[Any, ...]:
        return tile_click(evt, messages, session, request, refresh=False)

    def poster_page(text: str) -> str:
        try:
            note, cards = service.poster_search(text)
        except Exception as err:  # noqa: BLE001
            return views.hits([], friendly(err))
        return views.hits(cards, note)

    def run_evaluation(progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, ...]]:  # noqa: B008 - Gradio's idiom
        yield gr.skip(), gr.skip(), gr.skip(), gr.update(visible=False), gr.update(visible=True)
        progress(0, desc="Sampling people")
        evaluation.run(lambda done, what: progress(done, desc=what))
        yield evaluation.view()

    # ----- the API (gradio_client): the documented endpoints, galleries and plain data ------------------------
    def to_api(key: str, session: Session, steps: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        for messages, cards, _, _ in steps:
            service.save(key, session)
            page = (gr.skip(), gr.skip()) if cards is None else (gallery(cards), card_list(cards))
            yield messages, *page, session.profile(service.titles), "", session

    def chat_api(message: str, messages: Messages | None, session: Session, request: gr.Request
                 ) -> Iterator[tuple[Any, ...]]:
        sid = session_id(request)
        session = service.resume(sid, session)
        yield from to_api(sid, session, said_step(message, messages, session, echo=False))

    def thumbs_api(liked: bool) -> Callable[..., Iterator[tuple[Any, ...]]]:
        def handler(position: float | None, messages: Messages | None, session: Session, request: gr.Request
                    ) -> Iterator[tuple[Any, ...]]:
            sid = session_id(request)
            session = service.resume(sid, session)
            yield from to_api(sid, session, converse(session, messages,
                                                lambda: service.feedback(session, int(position or 0), liked)))
        return handler

    def forget_api(item: str, messages: Messages | None, session: Session, request: gr.Request
                   ) -> Iterator[tuple[Any, ...]]:
        key: int | str = int(item) if (item or "").strip().isdigit() else (item or "").strip()
        sid = session_id(request)
        session = service.resume(sid, session)
        act = lambda: service.forget(session, key)  # noqa: E731
        yield from to_api(sid, session, converse(session, messages, act))

    def rows_api(session: Session, request: gr.Request) -> list[Any]:
        try:
            sid = session_id(request)
            session = service.resume(sid, session)
            found = service.rows(session)
            note = "" if session.history else "Tell the chat what you like to get your own rows; until then:"
        except Exception as err:  # noqa: BLE001
            found, note = {}, friendly(err)
        updates: list[Any] = [note]
        for name, cards in list(found.items())[:ROW_SLOTS]:
            updates.append(gr.Gallery(value=gallery(cards), label=name, visible=True))
        updates += [gr.Gallery(value=[], visible=False)] * (ROW_SLOTS - len(updates) + 1)
        return updates

    def poster_api(text: str) -> tuple[str, GalleryValue]:
        try:
            note, cards = service.poster_search(text)
            return note, gallery(cards)
        except Exception as err:  # noqa: BLE001
            return friendly(err), []

    with gr.Blocks(title="cinefuse", analytics_enabled=False, fill_width=True) as demo:
        session = gr.State(Session())
        gr.HTML('<div id="cf-brand"><h1>cinefuse</h1><p>Movies picked from what they are and what people like '
                'you loved, each with the reason.</p></div>', apply_default_css=False)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=340):
                    chatbot = gr.Chatbot(height=430, elem_id="chat", show_label=False, placeholder=WELCOME,
                                         buttons=[], layout="bubble")
                    with gr.Row(equal_height=True):
                        message = gr.Textbox(placeholder=EXAMPLES[0], show_label=False, elem_id="message",
                                             submit_btn=False, max_length=MAX_MESSAGE_CHARS, scale=5, lines=1,
                                             container=False)
                        send = gr.Button("Send", variant="primary", elem_id="send", scale=1, min_width=80)
                    profile = gr.HTML(views.profile_panel([]), elem_id="profile", js_on_load=views.CLICKS,
                                      apply_default_css=False)
                    gr.Examples([[e] for e in EXAMPLES], inputs=[message], label="Try")
                with gr.Column(scale=7, min_width=520):
                    picks = gr.HTML(views.card_grid([]), elem_id="picks", js_on_load=views.CLICKS,
                                    apply_default_css=False, label="Your picks")
            with gr.Tab("For you", id="rows-tab") as rows_tab:
                rows = gr.HTML(elem_id="rows", js_on_load=views.CLICKS, apply_default_css=False)
            with gr.Tab("Poster search", id="poster-tab"):
                with gr.Row(equal_height=True):
                    query = gr.Textbox(placeholder="a lone astronaut drifting in space", show_label=False,
                                       elem_id="poster-query", scale=5, container=False)
                    find = gr.Button("Search posters", elem_id="poster-search", scale=1, min_width=140)
                found = gr.HTML(elem_id="poster-results", js_on_load=views.CLICKS, apply_default_css=False)
            with gr.Tab("Evaluation", id="eval-tab") as eval_tab:
                note, charts, report, _, _ = evaluation.view()
                eval_note = gr.Markdown(note, elem_id="eval-note")
                run_eval = gr.Button("Run a quick evaluation", variant="primary", elem_id="run-eval",
                                     visible=evaluation.dir is None)
                eval_progress = gr.HTML("", elem_id="eval-progress", min_height=90, visible=False,
                                        apply_default_css=False)
                eval_charts = gr.HTML(charts, elem_id="eval-charts", apply_default_css=False)
                eval_report = gr.Markdown(report, elem_id="eval-report")
        with gr.Column(visible=False):  # the API's outputs: galleries and plain data, as README documents
            api_picks = gr.Gallery(elem_id="api-picks")
            api_listing = gr.Markdown()
            api_profile = gr.JSON()
            api_card = gr.Number(value=1, precision=0)
            api_item = gr.Textbox()
            api_rows_note = gr.Markdown()
            api_rows = [gr.Gallery() for _ in range(ROW_SLOTS)]
            api_found_note = gr.Markdown()
            api_found = gr.Gallery()
            api_buttons = {name: gr.Button(name) for name in
                           ("chat", "thumbs_up", "thumbs_down", "forget", "rows", "poster_search")}

        page_out = [chatbot, picks, profile, message, session]
        private: dict[str, Any] = {"api_visibility": "private"}
        send.click(chat_page, [message, chatbot, session], page_out, show_progress_on=[picks], **private)
        message.submit(chat_page, [message, chatbot, session], page_out, show_progress_on=[picks], **private)
        picks.click(card_click, [chatbot, session], page_out, show_progress_on=[picks], **private)
        profile.click(profile_click, [chatbot, session], page_out, show_progress_on=[picks], **private)
        demo.load(start, [session], [picks, profile, session], **private)
        rows_tab.select(rows_page, [session], [rows], **private)
        tile_out = [chatbot, picks, profile, session]
        rows.click(row_click, [chatbot, session], [*tile_out, rows], show_progress_on=[rows], **private)
        found.click(hit_click, [chatbot, session], [*tile_out, found], show_progress="hidden", **private)
        find.click(poster_page, [query], [found], **private)
        query.submit(poster_page, [query], [found], **private)
        eval_out = [eval_note, eval_charts, eval_report, run_eval, eval_progress]
        eval_tab.select(evaluation.view, None, eval_out, **private)
        run_eval.click(run_evaluation, None, eval_out, show_progress_on=[eval_progress], **private)

        api_out = [chatbot, api_picks, api_listing, api_profile, message, session]
        api_buttons["chat"].click(chat_api, [message, chatbot, session], api_out, api_name="chat")
        api_buttons["thumbs_up"].click(thumbs_api(True), [api_card, chatbot, session], api_out, api_name="thumbs_up")
        api_buttons["thumbs_down"].click(thumbs_api(False), [api_card, chatbot, session], api_out,
                                         api_name="thumbs_down")
        api_buttons["forget"].click(forget_api, [api_item, chatbot, session], api_out, api_name="forget")
        api_buttons["rows"].click(rows_api, [session], [api_rows_note, *api_rows], api_name="rows")
        api_buttons["poster_search"].click(poster_api, [query], [api_found_note, api_found], api_name="poster_search")
    return demo


def launch(service: ChatService, *, host: str = "127.0.0.1", port: int = 7860,
           auth: tuple[str, str] | None = None, eval_root: str | Path | None = None, concurrency: int = 16,
           block: bool = True) -> gr.Blocks:
    """Serve the app (only on this machine unless ``host`` says otherwise), with optional password auth.

    Example:
        >>> # launch(ChatService(Recommender.open("runs/index")), auth=("me", "secret"))
    """
    demo = build_app(service, eval_root=eval_root)
    demo.queue(default_concurrency_limit=concurrency)
    allowed = [str(p) for p in service.media_dirs()]  # nothing else: not the index, the data or the reports folder
    blocked = [str(Path(p).expanduser().resolve()) for p in (service.rec.settings.store, service.rec.settings.cache_dir)
               if not str(p).startswith(("http://", "https://", ":memory:"))]
    demo.launch(server_name=host, server_port=port, auth=auth, allowed_paths=allowed, blocked_paths=blocked,
                prevent_thread_lock=not block, css=views.CSS, theme=gr.themes.Soft(primary_hue="indigo"),
                show_error=False, quiet=True, ssr_mode=False, footer_links=["api"])
    return demo


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``"user:password"`` as a pair; None for no authentication.

    Example:
        >>> parse_auth("ana:s3cret"), parse_auth(None)
        (('ana', 's3cret'), None)
    """
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        from index.errors import CinefuseError

        raise CinefuseError("--auth / CINEFUSE_AUTH: use USER:PASSWORD (both non-empty)")
    return user, password
