"""The Gradio app behind ``cinefuse serve``: a chat with a gallery of explained picks and thumbs, the home-page
rows, a text-to-poster search, and the latest evaluation charts.

Every handler turns errors into a friendly chat message (see :func:`app.session.friendly`); no file path comes
from what a person types: images are the index's posters or generated title cards, charts come from the
evaluation folder the operator configured.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - analytics must be off before gradio is imported

from app.session import MAX_MESSAGE_CHARS, Card, ChatService, Session, friendly  # noqa: E402

ROW_SLOTS = 5
GalleryValue = list[tuple[str, str]]
Messages = list[dict[str, Any]]

EXAMPLES = ["I loved Heat and Alien, hated Titanic", "something like Toy Story but darker", "no horror",
            "more like the third one", "why the second?"]


def gallery(cards: list[Card]) -> GalleryValue:
    """Gallery items (image, caption) for cards.

    Example:
        >>> gallery([Card(1, "Up (2009)", "/p/1.jpg", "Because you liked Cars.")])
        [('/p/1.jpg', 'Up (2009): Because you liked Cars.')]
    """
    return [(c.image, c.caption()) for c in cards]


def card_list(cards: list[Card]) -> str:
    """The page as a numbered list, so every explanation can be read in full (gallery captions are cut short).

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


def build_app(service: ChatService, *, eval_root: str | Path | None = None) -> gr.Blocks:
    """The Gradio Blocks app over one :class:`ChatService` (each browser or client session gets its own profile).

    Example:
        >>> # build_app(ChatService(Recommender.open("runs/index"))).launch()
    """
    eval_dir = latest_eval_dir(eval_root) if eval_root else None
    charts = publish_charts(eval_dir, service.media / "eval") if eval_dir else []

    def answer(reply_to: Any, session: Session, messages: Messages) -> Iterator[tuple[Any, ...]]:
        """The reply's page first, then its explanations as they are written; any failure becomes a message."""
        try:
            reply = reply_to()
            messages.append({"role": "assistant", "content": reply.text})
            yield messages, *_page_update(reply.cards), profile(session), "", session
            if reply.cards is not None:
                yield from _explained(session, reply.explain, messages)
        except Exception as err:  # noqa: BLE001 - every failure becomes a message, never a stack trace
            messages.append({"role": "assistant", "content": friendly(err)})
            yield messages, gr.skip(), gr.skip(), profile(session), "", session

    def chat(message: str, messages: Messages | None, session: Session) -> Iterator[tuple[Any, ...]]:
        if not (message or "").strip():  # nothing said: no empty bubbles, the page stays
            yield messages or [], gr.skip(), gr.skip(), profile(session), "", session
            return
        messages = [*(messages or []), {"role": "user", "content": message}]
        yield from answer(lambda: service.respond(session, message), session, messages)

    def thumbs(liked: bool) -> Any:
        def handler(position: float | None, messages: Messages | None, session: Session
                    ) -> Iterator[tuple[Any, ...]]:
            yield from answer(lambda: service.feedback(session, int(position or 0), liked), session,
                              list(messages or []))
        return handler

    def _explained(session: Session, recs: list[Any], messages: Messages) -> Iterator[tuple[Any, ...]]:
        last = time.perf_counter()
        pending = False
        for _ in service.explanations(session, recs):
            pending = True
            if time.perf_counter() - last > 0.75:
                yield messages, *_page_update(session.page), profile(session), "", session
                last, pending = time.perf_counter(), False
        if pending:
            yield messages, *_page_update(session.page), profile(session), "", session

    def profile(session: Session) -> dict[str, Any]:
        return session.profile(service.titles)

    def select(evt: gr.SelectData) -> int:
        return int(evt.index) + 1

    def rows(session: Session) -> list[Any]:
        try:
            found = service.rows(session)
            note = "" if session.history else "Tell the chat what you like to get your own rows; until then:"
        except Exception as err:  # noqa: BLE001
            found, note = {}, friendly(err)
        updates: list[Any] = [note]
        for name, cards in list(found.items())[:ROW_SLOTS]:
            updates.append(gr.Gallery(value=gallery(cards), label=name, visible=True))
        updates += [gr.Gallery(value=[], visible=False)] * (ROW_SLOTS - len(updates) + 1)
        return updates

    def poster_search(text: str) -> tuple[str, GalleryValue]:
        try:
            note, cards = service.poster_search(text)
            return note, gallery(cards)
        except Exception as err:  # noqa: BLE001
            return friendly(err), []

    with gr.Blocks(title="cinefuse", analytics_enabled=False) as demo:
        session = gr.State(Session())
        gr.Markdown("## cinefuse\nTell me what you liked; I rank movies by what they are and by what similar "
                    "people loved, and say why.")
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=2):
                chatbot = gr.Chatbot(height=460, elem_id="chat", label="Chat")
                message = gr.Textbox(placeholder=EXAMPLES[0], show_label=False, elem_id="message",
                                     submit_btn=False, max_length=MAX_MESSAGE_CHARS)
                send = gr.Button("Send", variant="primary", elem_id="send")
                gr.Examples([[e] for e in EXAMPLES], inputs=[message])
            with gr.Column(scale=3):
                picks = gr.Gallery(label="Picks (click a card, then thumbs up or down)", columns=4, height=560,
                                   allow_preview=False, object_fit="contain", elem_id="picks")
                with gr.Row():
                    card = gr.Number(value=1, precision=0, label="Card", elem_id="card", scale=1)
                    up = gr.Button("👍 More like this", elem_id="thumbs-up", scale=2)
                    down = gr.Button("👎 Less like this", elem_id="thumbs-down", scale=2)
                why = gr.Markdown(elem_id="explanations")
                you = gr.JSON(label="Your profile", elem_id="profile")
        with gr.Tab("For you") as rows_tab:
            rows_note = gr.Markdown()
            refresh = gr.Button("Refresh rows", elem_id="refresh-rows")
            row_galleries = [gr.Gallery(columns=8, height=260, allow_preview=False, visible=False,
                                        elem_id=f"row-{i}") for i in range(ROW_SLOTS)]
        with gr.Tab("Poster search"):
            query = gr.Textbox(placeholder="a lone astronaut drifting in space", label="Describe a poster",
                               elem_id="poster-query")
            find = gr.Button("Search posters", elem_id="poster-search")
            found_note = gr.Markdown()
            found = gr.Gallery(columns=8, height=300, allow_preview=False, elem_id="poster-results")
        with gr.Tab("Evaluation"):
            if eval_dir is None:
                gr.Markdown("No evaluation yet: run `cinefuse evaluate --data ../shared/data` and restart the app.")
            else:
                gr.Markdown(f"Latest evaluation: `{eval_dir.name}`")
                if charts:
                    gr.Gallery([(str(c), c.stem.replace("_", " ")) for c in charts], columns=2, height=520,
                               allow_preview=True, elem_id="eval-charts")
                gr.Markdown((eval_dir / "report.md").read_text())

        outputs = [chatbot, picks, why, you, message, session]
        send.click(chat, [message, chatbot, session], outputs, api_name="chat")
        message.submit(chat, [message, chatbot, session], outputs, api_visibility="private")
        up.click(thumbs(True), [card, chatbot, session], outputs, api_name="thumbs_up")
        down.click(thumbs(False), [card, chatbot, session], outputs, api_name="thumbs_down")
        picks.select(select, None, card, api_visibility="private")
        refresh.click(rows, [session], [rows_note, *row_galleries], api_name="rows")
        rows_tab.select(rows, [session], [rows_note, *row_galleries], api_visibility="private")
        find.click(poster_search, [query], [found_note, found], api_name="poster_search")
        query.submit(poster_search, [query], [found_note, found], api_visibility="private")
    return demo


def _page_update(cards: list[Card] | None) -> tuple[Any, Any]:
    return (gr.skip(), gr.skip()) if cards is None else (gallery(cards), card_list(cards))


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
                prevent_thread_lock=not block,
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
