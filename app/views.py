"""The app's HTML views: the page of picks, the home-page rows, poster hits and the profile panel, as markup with
real buttons (a click reaches Python through :data:`CLICKS`). Pure functions of :mod:`app.session`'s data; every
text is escaped, and every image URL points into the app's media folder (the only folder it serves).

Movies without a poster get a title card drawn in HTML and CSS, so its title, year and genres are real text at
the card's size (no picture of small letters), readable by screen readers and by the browser test.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

from app.session import Card, ProfileItem

#: one delegated listener per view: a click on a button carrying ``data-act`` becomes the component's click
#: event, with the button's data (card position, movieId, profile key) as ``gr.EventData``
CLICKS = """
element.addEventListener('click', (event) => {
  const b = event.target.closest('button[data-act]');
  if (!b) return;
  trigger('click', {act: b.dataset.act, card: Number(b.dataset.card || 0), movie: Number(b.dataset.movie || 0),
                    key: b.dataset.key || ''});
});
"""

# Material Design icons' thumb_up / thumb_down / close paths (Apache-2.0): drawn as SVG, so no emoji font is needed
_UP = ("M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 "
       "7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z")
_DOWN = ("M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 "
         ".41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z")
_CLOSE = "M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z"

#: a hue per first genre, so title cards differ at a glance
_HUES = {"Action": 8, "Adventure": 28, "Animation": 45, "Children": 60, "Comedy": 48, "Crime": 350, "Documentary": 180,
         "Drama": 220, "Fantasy": 280, "Film-Noir": 240, "Horror": 0, "IMAX": 200, "Musical": 320, "Mystery": 260,
         "Romance": 335, "Sci-Fi": 190, "Thriller": 300, "War": 100, "Western": 30}

ORDINAL_WORDS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]


def media_url(path: str) -> str:
    """The URL the app serves a media file at (relative, so it also works under a proxy's sub-path).

    Example:
        >>> media_url("/tmp/cinefuse-media-x/poster-6.jpg")
        'gradio_api/file=/tmp/cinefuse-media-x/poster-6.jpg'
    """
    return "gradio_api/file=" + quote(path)


def _icon(path: str) -> str:
    return f'<svg class="cf-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="{path}"/></svg>'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_VOWELS = set("aeiouyAEIOUY")


def soft_hyphens(text: str, longer_than: int = 9) -> str:
    """``text`` with soft hyphens (U+00AD) in its long words, between syllables by the two plain English rules
    (vowel|consonant-vowel, consonant|consonant), so a narrow title card breaks "Space-hunter" rather than
    "Spacehunte-r". Browsers show the hyphen only where they break the line.

    Example:
        >>> soft_hyphens("Spacehunter: Adventures").replace("\u00ad", "-")
        'Spa-ce-hun-ter: Ad-ven-tu-res'
    """
    def word(w: str) -> str:
        if len(w) <= longer_than:
            return w
        cuts = [i for i in range(2, len(w) - 2)
                if w[i - 1].isalpha() and w[i].isalpha() and w[i + 1].isalpha() and w[i] not in _VOWELS
                and ((w[i - 1] in _VOWELS and w[i + 1] in _VOWELS) or (w[i - 1] not in _VOWELS and w[i - 2] in _VOWELS
                                                                        and w[i + 1] in _VOWELS))]
        out, last = [], 0
        for i in cuts:
            out.append(w[last:i])
            last = i
        return "\u00ad".join([*out, w[last:]])

    return " ".join(word(w) for w in text.split(" "))


def art(card: Card) -> str:
    """The card's picture: its poster with alt text, or an HTML title card (title, year, genres as text).

    Example:
        >>> "cf-titlecard" in art(Card(6, "Heat (1995)", "/m/card-6.png", year=1995, genres=["Crime"]))
        True
    """
    if card.poster:
        return (f'<img class="cf-poster" src="{_e(media_url(card.image))}" alt="Poster of {_e(card.title)}" '
                f'loading="lazy">')
    hue = _HUES.get(card.genres[0], 215) if card.genres else 215
    genres = " · ".join(card.genres[:3])
    label = f"Title card: {card.title}" + (f", {', '.join(card.genres)}" if card.genres else "")
    year = f'<span class="cf-tc-year">{card.year}</span>' if card.year else ""
    long = max((len(w) for w in card.name.split()), default=0) > 9  # "Fellowship" fits the card at 14 px
    return (f'<div class="cf-titlecard{" cf-long" if long else ""}" style="--hue:{hue}" role="img" '
            f'aria-label="{_e(label)}">'
            f'<span class="cf-tc-title">{_e(soft_hyphens(card.name))}</span>{year}'
            + (f'<span class="cf-tc-genres">{_e(genres)}</span>' if genres else "") + "</div>")


def _thumbs(card: Card, position: int | None) -> str:
    where = f' data-card="{position}"' if position else ""
    return (f'<div class="cf-actions">'
            f'<button type="button" class="cf-btn cf-up" data-act="up"{where} data-movie="{card.movie_id}" '
            f'aria-label="More like {_e(card.title)}" title="More like this">{_icon(_UP)}<span>More like this</span>'
            f'</button>'
            f'<button type="button" class="cf-btn cf-down" data-act="down"{where} data-movie="{card.movie_id}" '
            f'aria-label="Less like {_e(card.title)}" title="Less like this">{_icon(_DOWN)}<span>Less like this</span>'
            f'</button></div>')


def _heading(card: Card, tag: str = "h3", number: int | None = None, nth: str = "") -> str:
    year = f' <span class="cf-year">{card.year}</span>' if card.year else ""
    num = (f'<span class="cf-num" title="Card {number}: ask “why the {nth}?”">{number}</span> '
           if number is not None else "")
    return f'<{tag} class="cf-title">{num}{_e(card.name)}{year}</{tag}>'


def _why(card: Card, pending: bool) -> str:
    if card.explanation:
        return f'<p class="cf-why">{_e(card.explanation)}</p>'
    if pending:
        return '<p class="cf-why cf-pending" role="status">Writing why this fits you…</p>'
    return ""


def card_grid(cards: list[Card], *, pending: bool = False, empty: str = "") -> str:
    """The page of picks: numbered cards, each with its picture, title and year, genres, its explanation in full
    (inside the card's own box) and its own "More like this" / "Less like this" buttons. ``pending``: some
    explanations are still being written (those cards say so).

    Example:
        >>> html_ = card_grid([Card(6, "Heat (1995)", "/m/poster-6.jpg", "Because you liked Ronin.", year=1995,
        ...                         genres=["Crime"], poster=True)])
        >>> 'aria-label="More like Heat (1995)"' in html_ and "Because you liked Ronin." in html_
        True
    """
    if not cards:
        return f'<div class="cf-empty">{_e(empty)}</div>' if empty else ""
    items = []
    for i, card in enumerate(cards, 1):
        nth = ORDINAL_WORDS[i - 1] if i <= len(ORDINAL_WORDS) else f"number {i}"
        items.append(
            f'<li class="cf-card" data-movie="{card.movie_id}" data-reason="{_e(card.reason)}" '
            f'aria-label="{_e(f"{i}. {card.title}")}">'
            f'<div class="cf-art">{art(card)}</div>'
            f'<div class="cf-body">{_heading(card, number=i, nth=nth)}'
            + (f'<p class="cf-genres">{_e(" · ".join(card.genres))}</p>' if card.genres else "")
            + _why(card, pending) + _thumbs(card, i) + "</div></li>")
    return f'<ol class="cf-grid" aria-label="Your picks">{"".join(items)}</ol>'


def tile(card: Card, *, actions: bool = True) -> str:
    """A compact card for a row or a search hit: picture, title and year, its own line, thumbs.

    Example:
        >>> "cf-tile" in tile(Card(6, "Heat (1995)", "/m/card-6.png", "2,000 ratings.", year=1995))
        True
    """
    return (f'<li class="cf-tile" data-movie="{card.movie_id}" aria-label="{_e(card.title)}">'
            f'<div class="cf-art">{art(card)}</div><div class="cf-body">{_heading(card, "h4")}'
            + (f'<p class="cf-line">{_e(card.explanation)}</p>' if card.explanation else "")
            + (_thumbs(card, None) if actions else "") + "</div></li>")


def row_strips(rows: Mapping[str, list[Card]], note: str = "") -> str:
    """Home-page rows, one titled strip each.

    Example:
        >>> row_strips({"Trending now": [Card(6, "Heat (1995)", "/m/card-6.png")]}).count("cf-tile")
        1
    """
    parts = [f'<p class="cf-note">{_e(note)}</p>'] if note else []
    for name, cards in rows.items():
        rid = "row-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())
        parts.append(f'<section class="cf-row" aria-labelledby="{_e(rid)}"><h3 id="{_e(rid)}" class="cf-row-name">'
                     f'{_e(name)}</h3><ol class="cf-strip">{"".join(tile(c) for c in cards)}</ol></section>')
    return "".join(parts)


def hits(cards: list[Card], note: str = "") -> str:
    """Search results as a grid of tiles under a note.

    Example:
        >>> hits([], "Describe a poster.")
        '<p class="cf-note">Describe a poster.</p>'
    """
    note_html = f'<p class="cf-note">{_e(note)}</p>' if note else ""
    return note_html + (f'<ol class="cf-strip cf-wrap">{"".join(tile(c) for c in cards)}</ol>' if cards else "")


def charts(paths: Iterable[Path]) -> str:
    """An evaluation's charts at their own size (they are copies in the media folder), each with its name as alt
    text.

    Example:
        >>> charts([Path("/m/eval/ndcg_protocol_A.png")])[23:]
        '<img src="gradio_api/file=/m/eval/ndcg_protocol_A.png" alt="Chart: ndcg protocol A"></div>'
    """
    imgs = "".join(f'<img src="{_e(media_url(str(p)))}" alt="Chart: {_e(p.stem.replace("_", " "))}">' for p in paths)
    return f'<div class="cf-charts">{imgs}</div>' if imgs else ""


_KINDS = {"liked": "Liked", "more_like": "More like", "disliked": "Disliked", "less_like": "Less like",
          "no_genre": "No", "only_genre": "Only", "no_name": "Not", "lean": "Leaning"}


def profile_panel(items: Iterable[ProfileItem]) -> str:
    """What the chat has learned, grouped as people read it (liked, more like, disliked, less like, genre
    rules), each entry a chip with its own remove button.

    Example:
        >>> p = profile_panel([ProfileItem("liked", "Heat (1995)", 6), ProfileItem("no_genre", "Horror", "Horror")])
        >>> 'aria-label="Remove Heat (1995) from Liked"' in p and 'data-key="Horror"' in p
        True
    """
    groups: dict[str, list[ProfileItem]] = {}
    for item in items:
        groups.setdefault(_KINDS[item.kind], []).append(item)
    if not groups:
        return ('<div class="cf-profile"><h3 class="cf-profile-name">Your taste</h3><p class="cf-note">Nothing yet: '
                'tell me movies you liked or disliked, or use the buttons on a card.</p></div>')
    rows = []
    for group, entries in groups.items():
        chips = "".join(
            f'<li class="cf-chip cf-{_e(e.kind)}"><span>{_e(e.label)}</span>'
            f'<button type="button" class="cf-x" data-act="forget" data-key="{_e(e.key)}" '
            f'aria-label="Remove {_e(e.label)} from {_e(group)}" title="Remove">{_icon(_CLOSE)}</button></li>'
            for e in entries)
        rows.append(f'<div class="cf-group"><span class="cf-group-name">{_e(group)}</span>'
                    f'<ul class="cf-chips">{chips}</ul></div>')
    return f'<div class="cf-profile"><h3 class="cf-profile-name">Your taste</h3>{"".join(rows)}</div>'


CSS = """
.gradio-container { padding-top: 4px !important; position: relative; }
#cf-brand { position: absolute; top: 12px; right: 20px; z-index: 3; display: flex; align-items: baseline;
  gap: 12px; }
#cf-brand h1 { font-size: 22px; font-weight: 800; margin: 0; letter-spacing: -0.02em; }
#cf-brand p { margin: 0; color: var(--body-text-color-subdued); font-size: 14px; }
#chat { flex-grow: 0; }
#chat .top-panel { display: none; }  /* its Clear would desync the chat from the profile */
#profile, #picks, #rows, #poster-results { min-height: 0; }
.cf-grid { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); }
.cf-card { display: flex; gap: 12px; padding: 10px; border: 1px solid var(--border-color-primary);
  border-radius: 12px; background: var(--background-fill-primary); box-shadow: 0 1px 2px rgba(0,0,0,.06);
  min-width: 0; }
.cf-art { position: relative; flex: 0 0 auto; }
.cf-card .cf-art { width: 104px; }
.cf-poster { display: block; width: 100%; aspect-ratio: 2 / 3; object-fit: cover; border-radius: 8px;
  background: #1f2433; }
.cf-titlecard { box-sizing: border-box; width: 100%; aspect-ratio: 2 / 3;
  display: flex; flex-direction: column; justify-content: safe center; gap: 6px; padding: 10px 8px; border-radius: 8px;
  color: #f4f5f8; overflow-wrap: break-word; line-height: 1.2;
  background: linear-gradient(160deg, hsl(var(--hue) 45% 34%), hsl(calc(var(--hue) + 40) 35% 16%)); }
.cf-tc-title { font-size: 16px; font-weight: 700; }
.cf-long .cf-tc-title { font-size: 14px; }
.cf-tc-year { font-size: 14px; opacity: .9; }
.cf-tc-genres { font-size: 14px; opacity: .85; }
.cf-num { display: inline-block; min-width: 22px; height: 22px; padding: 0 4px; margin-right: 2px;
  box-sizing: border-box; border-radius: 11px; background: var(--color-accent); color: #fff;
  font-size: 13px; line-height: 22px; text-align: center; vertical-align: 2px; }
.cf-body { display: flex; flex-direction: column; gap: 4px; min-width: 0; flex: 1 1 auto; }
.cf-title { margin: 0 !important; font-size: 16px !important; line-height: 1.25; font-weight: 700; }
.cf-year { font-weight: 400; color: var(--body-text-color-subdued); }
.cf-genres { margin: 0 !important; font-size: 13px; color: var(--body-text-color-subdued); }
.cf-why, .cf-line { margin: 2px 0 0 !important; font-size: 14px; line-height: 1.35; }
.cf-pending { color: var(--body-text-color-subdued); font-style: italic;
  animation: cf-pulse 1.2s ease-in-out infinite; }
@keyframes cf-pulse { 50% { opacity: .45; } }
.cf-actions { display: flex; gap: 6px; margin-top: auto; padding-top: 4px; flex-wrap: wrap; }
.cf-btn { display: inline-flex; align-items: center; gap: 4px; padding: 4px 9px; border-radius: 999px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
  color: var(--body-text-color); font-size: 13px; line-height: 18px; cursor: pointer; white-space: nowrap; }
.cf-btn:hover { border-color: var(--color-accent); }
.cf-btn:focus-visible, .cf-x:focus-visible { outline: 3px solid var(--color-accent); outline-offset: 1px; }
.cf-up:hover { background: #e8f4ec; color: #14532d; }
.cf-down:hover { background: #fbeaea; color: #7f1d1d; }
.cf-icon { width: 16px; height: 16px; fill: currentColor; flex: 0 0 auto; }
.cf-empty { padding: 28px; border: 1px dashed var(--border-color-primary); border-radius: 12px;
  color: var(--body-text-color-subdued); font-size: 15px; }
.cf-note { margin: 2px 0 8px !important; color: var(--body-text-color-subdued); font-size: 14px; }
.cf-row { margin: 0 0 14px; }
.cf-row-name { margin: 0 0 6px !important; font-size: 17px !important; font-weight: 700; }
.cf-strip { list-style: none; margin: 0; padding: 0 0 6px; display: grid; grid-auto-flow: column;
  grid-auto-columns: 156px; gap: 10px; overflow-x: auto; }
.cf-strip.cf-wrap { grid-auto-flow: row; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
  overflow-x: visible; }
.cf-tile { display: flex; flex-direction: column; gap: 6px; min-width: 0; }
.cf-tile .cf-art { width: 100%; }
.cf-tile .cf-title { font-size: 14px !important; }
.cf-tile .cf-line { font-size: 13px; color: var(--body-text-color); }
.cf-tile .cf-btn span { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.cf-tile .cf-btn { padding: 5px 12px; }
.cf-profile { border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 10px 12px;
  background: var(--background-fill-primary); }
.cf-profile-name { margin: 0 0 6px !important; font-size: 15px !important; font-weight: 700; }
.cf-group { display: flex; gap: 8px; align-items: baseline; margin: 4px 0; }
.cf-group-name { flex: 0 0 72px; font-size: 13px; color: var(--body-text-color-subdued); }
.cf-chips { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 6px; }
.cf-chip { display: inline-flex; align-items: center; gap: 2px; padding: 2px 4px 2px 10px; border-radius: 999px;
  font-size: 13px; background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
.cf-liked, .cf-more_like { background: #e8f4ec; border-color: #b7dcc3; color: #14532d; }
.cf-disliked, .cf-less_like { background: #fbeaea; border-color: #efc4c4; color: #7f1d1d; }
.cf-no_genre, .cf-only_genre, .cf-no_name, .cf-lean { background: #eef0fb; border-color: #c9cdf0; color: #272d6b; }
.cf-x { display: inline-flex; border: 0; background: transparent; color: inherit; padding: 2px; border-radius: 50%;
  cursor: pointer; }
.cf-x:hover { background: rgba(0,0,0,.08); }
.cf-x .cf-icon { width: 14px; height: 14px; }
#eval-report table { font-size: 13px; }
#eval-report th { white-space: nowrap; }
.cf-charts { display: flex; flex-wrap: wrap; gap: 12px; }
.cf-charts img { max-width: min(100%, 880px); height: auto; border: 1px solid var(--border-color-primary);
  border-radius: 8px; background: #fff; }
"""
