"""What a chat message asks for: liked and disliked titles, genre rules, feedback on shown cards, "why", and a
free-text description that steers the ranking. Pure parsing; titles are only split here, resolved elsewhere. The
chat-only parts live here; what a description names (people, studios, franchises, periods, negations) is read by
the one query parser, :mod:`index.query`, that search and the API use too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from index.query import COUNT_WORDS, normalize
from index.query import GENRE_WORDS as QUERY_GENRE_WORDS

ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
            "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "ninth": 9, "9th": 9,
            "tenth": 10, "10th": 10, "last": -1}
_ORD = (r"(?:the\s+)?(?P<ord>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last"
        r"|\d{1,2}(?:st|nd|rd|th)|#\s*\d{1,2}|(?:number|no\.?)\s*\d{1,2})(?:\s+(?:one|movie|film|pick|card))?")

#: the genre words are the query parser's (index/query.py), matched here in raw text ("sci-fi", "children's")
GENRE_WORDS = {" ".join(w.split()): g for w, g in QUERY_GENRE_WORDS.items()}
_GENRE = "|".join(re.escape(w).replace(r"\ ", r"[\s-]").replace("childrens", "children'?s")
                  for w in sorted(GENRE_WORDS, key=len, reverse=True))

#: a list of genres alone ("romantic comedies", "horror and slasher films"), as the object of a verb
_GENRE_LIST = re.compile(rf"(?:(?:{_GENRE})(?:\s+(?:movies|films|stuff))?(?:\s*(?:,|and|or)\s*|\s+)?)+", re.I)
_GENRE_WORD = re.compile(rf"\b(?:{_GENRE})\b", re.I)


def _genres(text: str) -> list[str]:
    """The MovieLens genres a list names, one per item, the first word of each ("romantic comedies" is Romance,
    as "romcoms" is; "horror or musicals" is Horror and Musical)."""
    items = re.split(r"\s*(?:,|\band\b|\bor\b)\s*", text, flags=re.I)
    firsts = [_GENRE_WORD.search(item) for item in items]
    return list(dict.fromkeys(GENRE_WORDS[normalize(m.group())] for m in firsts if m))


_RESET = re.compile(r"^\s*(?:reset|start over|start again|forget (?:everything|it all|me)|clear"
                    r"(?: my)? (?:history|profile|likes))\b[\s.!]*", re.I)
_WHY = re.compile(r"\bwhy\b(?:\s+(?:did|do|would)\s+you\s+(?:pick|choose|recommend|suggest|show)(?:\s+me)?)?"
                  r"(?:\s+(?:is|was))?\s+(?P<ref>[^?.!;]+)", re.I)
_CARD = re.compile(rf"\b(?P<dir>(?:more|less|fewer|nothing)\s+like|loved?|liked?|enjoyed|hated?|disliked?|"
                   rf"(?:didn'?t|did\s+not|don'?t)\s+(?:like|love|enjoy)|not|drop|remove|hide|no)\s+{_ORD}", re.I)
_NO_GENRE = re.compile(rf"\b(?:no|without|not|skip|avoid|exclude|except|nothing|none of the|stop(?: showing)?)\s+"
                       rf"(?:more\s+|any\s+|too\s+|very\s+|so\s+|overly\s+)?(?P<g>{_GENRE})\b"
                       rf"(?:\s+(?:movies|films|stuff|please|anymore))?", re.I)
_ONLY_GENRE = re.compile(rf"\b(?:only|just)\s+(?P<g>{_GENRE})\b(?:\s+(?:movies|films|stuff|please))?", re.I)
_ANY_GENRE = re.compile(r"\b(?:any|all)\s+genres?(?:\s+(?:is|are)\s+(?:fine|ok(?:ay)?))?\b"
                        r"|\bgenres?\s+(?:are\s+)?fine\b|\bclear\s+(?:the\s+)?filters?\b", re.I)
_SIMILAR = re.compile(r"(?:^|\b(?:something|anything|movies?|films?|stuff|ones?|more|things?|a\s+bit)\s+)"
                      r"(?:like|similar\s+to)\s+(?P<t>[^.;!?]+?)(?:\s*,?\s+but\s+(?P<steer>[^.;!?]+))?"
                      r"(?=\s*(?:[.;!?]|$))", re.I)
_VERB = re.compile(
    r"\b(?P<neg>didn'?t\s+(?:like|enjoy|love)|did\s+not\s+(?:like|enjoy|love)|don'?t\s+(?:like|love)|"
    r"do\s+not\s+(?:like|love)|couldn'?t\s+stand|can'?t\s+stand|could\s+not\s+stand|cannot\s+stand|disliked?|"
    r"hated?|hates|dislikes|loathed?|(?:was|wasn'?t|am|i'?m|not)\s+(?:a\s+)?fan\s+of|bored\s+by|was\s+bored\s+by)\b"
    r"|\b(?P<pos>(?:really\s+|also\s+|absolutely\s+)?(?:loved?|loves|liked?|likes|enjoyed|enjoys?|adored?|adores)|"
    r"(?:big\s+)?fan\s+of|"
    r"favou?rites?\s+(?:(?:movies?|films?|ones?)\s+)?(?:of\s+all\s+time\s+)?(?:are|is|were|was|include))\b", re.I)
_VERDICT = re.compile(
    r"(?:^|(?<=[.;!?,]))\s*(?P<t>[^.;!?,]+?)\s+(?:was|were|is|are)\s+(?:so\s+|really\s+|very\s+|just\s+|truly\s+)?"
    r"(?:(?P<pos>great|amazing|awesome|fantastic|brilliant|excellent|wonderful|superb|perfect|good|fun|a\s+masterpiece)"
    r"|(?P<neg>terrible|awful|boring|bad|dull|horrible|overrated|a\s+mess|the\s+worst))\b", re.I)
#: "I watched Interstellar last night and loved it", "just saw Heat": a watched title is liked unless what is said
#: of "it" says otherwise (a bare watch-history entry counts as a like, as in the API)
_WATCHED_VERB = (r"\b(?:(?:i|we)\s+)?(?:just\s+|finally\s+|recently\s+|also\s+)?(?:watched|saw|re-?watched|"
                 r"finished|(?:have|'ve)\s+(?:just\s+)?(?:seen|watched))\s+(?P<t>[^.;!?,]+?)"
                 r"(?:\s+(?:last\s+(?:night|week|weekend)|yesterday|today|tonight|recently|again|earlier|"
                 r"this\s+(?:week|weekend|morning|afternoon|evening)|on\s+(?:netflix|tv|a\s+plane)))?")
_WATCHED_SAID = re.compile(
    _WATCHED_VERB + r"\s*(?:,\s*and|,|\band\b)\s*(?:"
    r"(?:(?:i|we)\s+)?(?:really\s+|absolutely\s+|totally\s+)?(?:(?P<pos>loved|liked|enjoyed|adored)|"
    r"(?P<neg>hated|disliked|didn'?t\s+(?:like|enjoy|love)|did\s+not\s+(?:like|enjoy|love)))\s+"
    r"(?:it|that(?:\s+one)?|them|both)\b(?:\s+(?:a\s+lot|so\s+much|very\s+much))?"
    r"|(?:it|that|they)\s+(?:was|were|is)\s+(?:so\s+|really\s+|very\s+|just\s+)?(?:(?P<good>great|amazing|awesome|"
    r"fantastic|brilliant|excellent|wonderful|superb|perfect|good|fun|a\s+masterpiece)|(?P<bad>terrible|awful|"
    r"boring|bad|dull|horrible|overrated|a\s+mess|the\s+worst))\b)", re.I)
_WATCHED = re.compile(_WATCHED_VERB + r"(?=\s*(?:[.;!?,]|$))", re.I)
#: a whole message about the card the last "why" discussed: "not that one", "more like this one"
_THAT_ONE = re.compile(r"^(?:(?:no|nah|ok(?:ay)?|hmm+)[,.!]?\s+)?(?:(?P<neg>not|less\s+like|drop|hide|remove|skip|"
                       r"(?:i\s+)?(?:don'?t|didn'?t|do\s+not|did\s+not)\s+(?:like|want)|(?:i\s+)?hated?)|"
                       r"(?P<pos>more\s+like|(?:i\s+)?(?:really\s+)?(?:liked?|loved?)))\s+(?:that|this|it)(?:\s+one)?"
                       r"(?:\s+(?:please|then|thanks))?\s*[.!]*$", re.I)
#: the most cards a message may ask for ("give me 50" gets this many)
MAX_COUNT = 20
#: "give me 5 comedies", "top 3 horror films", "just 4 picks": how many cards the page shows from now on
_COUNT = re.compile(rf"\b(?:(?:give|show|find|get)\s+(?:me|us)\s+|recommend(?:\s+(?:me|us))?\s+|suggest\s+|list\s+|"
                    rf"top\s+|(?:just|only)\s+|i\s+want\s+|pick\s+)(?:the\s+)?(?P<n>\d{{1,3}}|{'|'.join(COUNT_WORDS)})"
                    rf"(?=(?:\s+[\w'-]+){{0,3}}?\s+(?:movies|films|picks|ones|titles|suggestions|options|recommendations|"
                    rf"comedies|dramas|thrillers|westerns|musicals|documentaries|cartoons|classics|things|more)\b"
                    rf"|\s*(?:more|please|[.!?]|$))", re.I)
#: "anything with Adam Sandler", "movies by Michael Bay" after a verb: a name, not a title
_ANYTHING_WITH = re.compile(r"^(?:anything|everything|something|movies?|films?|stuff)\s+(?P<who>(?:with|by|starring|"
                            r"featuring|from|directed\s+by)\s+.+)$", re.I)
#: a question about a card's facts ("how long is the second one?", "who directed #3", "is the first one on
#: Netflix?"): the aspect asked, answered from the card's movie; the page stays
ASPECTS = {"runtime": r"how\s+long|runtime|length|how\s+many\s+minutes",
           "director": r"who\s+(?:directed|made)|director|directed\s+by",
           "cast": r"who'?s\s+in|who\s+(?:is|stars|plays|acts)\s+in|who\s+stars|cast|actors?|starring",
           "plot": r"what'?s|what\s+is|tell\s+me\s+(?:more\s+)?about|plot|about|story|synopsis",
           "year": r"when\s+(?:was|did|is)|what\s+year|how\s+old|released",
           "rating": r"rating|rated|how\s+good|(?:any\s+)?good|worth\s+(?:watching|seeing|it)|reviews?|score",
           "streaming": r"netflix|stream(?:ing)?|hulu|prime|disney\+|"
                        r"where\s+(?:can|could)\s+(?:i|we)\s+(?:watch|see|find)"}
_ASPECT = re.compile("|".join(rf"(?P<{k}>\b(?:{v})\b)" for k, v in ASPECTS.items()), re.I)
_CARD_IN = re.compile(rf"(?<![\w#])(?:{_ORD}|(?:the\s+)?(?P<that>that|this|it)(?:\s+one)?)(?![\w-])", re.I)
_QUESTION = re.compile(r"^\s*(?:and\s+|so\s+|ok(?:ay)?[,.]?\s+)?(?:what|who|whos|who'?s|how|when|is|does|did|"
                       r"tell\s+me|where|which|can\s+i|could\s+i)\b|\?\s*$", re.I)
_AFTER_CARD = {"", "on", "about", "in", "is", "and", "run", "runs", "last", "lasts", "for", "made", "directed",
               "released", "come", "came", "rated", "streaming", "available", "good", "any", "worth"}
#: "the third one looks good": a thumbs up for that card
_LOOKS_GOOD = re.compile(rf"^(?:(?:oh|ooh|hmm+|ok(?:ay)?)[,.!]?\s+)?{_ORD}\s+(?:looks|sounds|seems)\s+"
                         rf"(?:really\s+|very\s+|pretty\s+)?(?:good|great|interesting|fun|promising|cool|nice|amazing)\b"
                         rf"[.!]*$", re.I)
_ORD2 = _ORD.replace("?P<ord>", "?P<ord2>")
#: "I've already seen", "watched": what "seen" messages about cards and pages begin with
_SEEN_LEAD = r"(?:i'?ve\s+|i\s+have\s+|we'?ve\s+)?(?:already\s+)?(?:seen|watched|saw)\s+"
#: "already seen the first two", "I've seen the second one": those cards are passed, never shown again
_SEEN_CARDS = re.compile(rf"^(?:(?:but|well|ok(?:ay)?|sorry)[,.!]?\s+)?{_SEEN_LEAD}"
                         rf"(?:(?:the\s+)?(?P<edge>first|last)\s+"
                         rf"(?P<n>two|three|four|five|[2-5])|{_ORD}(?:\s+(?:and|&)\s+{_ORD2})?"
                         rf"|(?P<that>it|that(?:\s+one)?|this(?:\s+one)?))"
                         rf"(?:\s+(?:ones?|already|before))?\s*[.!]*$", re.I)
#: "help", "what can you do?": the guide (the film The Help is "I loved The Help")
_HELP = re.compile(r"^(?:(?:hi|hello|hey)(?:\s+there)?[,.!]*\s*)?(?:help(?:\s+me)?|how\s+does\s+(?:this|it)\s+work|"
                   r"what\s+can\s+(?:you|i)\s+(?:do|say|ask(?:\s+you)?)|how\s+do\s+i\s+use\s+(?:this|it)|commands|"
                   r"instructions)\s*[?!.]*$", re.I)
#: "go back", "undo": not kept as a history of pages, so the reply says how to take a step back
_UNDO = re.compile(r"^(?:(?:no|nah|hmm+|oops|sorry)[,.!]?\s+)?(?:go\s+back|undo(?:\s+that)?|take\s+(?:that|it)\s+back|"
                   r"back|previous(?:\s+page)?|the\s+(?:previous|last)\s+(?:page|ones|picks))(?:\s+please)?\s*[.!]*$",
                   re.I)
#: "forget Heat", "remove the Horror rule": one thing out of the profile, as the panel's remove button does
_FORGET = re.compile(r"^(?:please\s+)?(?:forget(?:\s+about)?|remove|drop|delete|take\s+out|unlike)\s+(?:the\s+rule\s+)?"
                     r"(?P<t>.+?)(?:\s+(?:rule|from\s+my\s+(?:likes|dislikes|profile|list)))?(?:\s+please)?\s*[.!]*$",
                     re.I)
#: thanks and praise: nothing to change
_THANKS = re.compile(r"^(?:(?:thanks?(?:\s+you)?|thx|ty|cheers|great|cool|awesome|perfect|nice|wow|lovely|brilliant|"
                     r"excellent|amazing|that'?s\s+(?:great|perfect|awesome|helpful|nice|lovely|brilliant|it)|"
                     r"(?:this|these)\s+(?:is|are|look)\s+(?:great|perfect|good)|sounds\s+good|looks\s+good|ok(?:ay)?"
                     r")[\s,.!]*)+$", re.I)
#: a comma that starts a question after a list of titles ("I loved Heat, any ideas?")
_ASKED = re.compile(r"\s*,\s*(?:so\s+|and\s+|now\s+)?(?=(?:what|which|any|anything|something|got\s+any|can\s+you|"
                    r"could\s+you|recommend|suggest|ideas|(?:give|show|find)\s+(?:me|us))\b)", re.I)
#: "what should I watch after Heat?": the film named is liked
_AFTER = re.compile(r"\b(?:watch|see)\s+(?:next\s+)?after\s+(?P<t>[^.;!?,]+)", re.I)
#: "I've seen all of these": the page's films are passed like "show me more" passes them
_SEEN_PAGE = re.compile(rf"^(?:(?:but|well|hmm+|ok(?:ay)?|no|nah|sorry)[,.!]?\s+)?{_SEEN_LEAD}"
                        r"(?:all\s+(?:of\s+)?|most\s+of\s+|every\s+one\s+of\s+)?"
                        r"(?:these|those|them|them\s+all|the\s+lot|everything(?:\s+here)?|all\s+of\s+them|it\s+all)"
                        r"(?:\s+(?:already|before|too))?\s*[.!]*$", re.I)
#: where a sentence ends: not at "Inc.," or "Dr. Strangelove", which belong to titles
_STOP = re.compile(r"[;!?]|(?<!\b(?:Mr|Dr|St|Jr|vs|Ms))(?<!\bMrs|\bInc)\.(?=\s|$)", re.I)
_PRONOUN = re.compile(r"^(?:it|them|that|those|these|this|both|all\s+of\s+them|it\s+all)$", re.I)
_REQUEST = re.compile(r"\b(?:i'?d|i\s+would|we'?d|would)\s+$", re.I)
_TRAIL = re.compile(r"(?:\s+(?:a\s+lot|so\s+much|very\s+much|too|as\s+well|a\s+bunch|though|but|and))+\s*$", re.I)
_LEAD = re.compile(r"^\s*(?:and\s+|also\s+|especially\s+|particularly\s+|mostly\s+|mainly\s+|in\s+particular\s+|"
                   r"the\s+(?:movies?|films?)\s+|movies?\s+|films?\s+)+", re.I)
_FILLER = re.compile(r"\b(?:please|pls|thanks|thank you|hi|hello|hey|ok(?:ay)?|so|well|now|"
                     r"show\s+me|give\s+me|find\s+me|recommend(?:\s+me)?|suggest|i\s+want(?:\s+to\s+watch)?|"
                     r"i'?d\s+(?:like|love)|i\s+would\s+(?:like|love)|can\s+you|could\s+you|maybe|some|something|anything|"
                     r"a\s+(?:movie|film)|movies?|films?|to\s+watch|tonight|for\s+me)\b", re.I)


@dataclass
class Request:
    """Everything one message asked for. Titles are raw text; positions are 1-based (-1 is the last card, 0 the
    card the last "why" was about).

    Example:
        >>> Request(liked=["Heat"]).is_empty()
        False
    """

    liked: list[str] = field(default_factory=list)
    disliked: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    only_genres: list[str] = field(default_factory=list)
    any_genre: bool = False
    card_liked: list[int] = field(default_factory=list)
    card_disliked: list[int] = field(default_factory=list)
    why: list[int | str] = field(default_factory=list)
    steer: str | None = None
    reset: bool = False
    picks: bool = False  # "what should I watch tonight?": the page, with nothing else asked
    more: bool = False  # "show me more", "next", "something else": the next picks of the same request
    seen: bool = False  # "I've seen all of these": the next picks, and the page's films never shown again
    count: int | None = None  # "give me 5 comedies": cards per page from now on (1 to MAX_COUNT)
    # "how long is the 2nd?", "who's in Heat?": (card position or title, aspect)
    about: list[tuple[int | str, str]] = field(default_factory=list)
    seen_cards: list[int] = field(default_factory=list)  # "already seen the first two": passed for the session
    thanks: bool = False  # "thanks, that's great!"
    help: bool = False  # "help", "what can you do?"
    undo: bool = False  # "go back", "undo"
    forget: str | None = None  # "forget Heat": a movie, a genre rule or a ruled-out name, as the panel lists it

    def changes_page(self) -> bool:
        """Whether it asks for anything that re-ranks the page (everything but "why")."""
        return bool(self.liked or self.disliked or self.exclude_genres or self.only_genres or self.any_genre
                    or self.card_liked or self.card_disliked or self.steer or self.reset or self.picks or self.more
                    or self.seen or self.count or self.seen_cards)

    def is_empty(self) -> bool:
        return not (self.changes_page() or self.why or self.about or self.thanks or self.help or self.undo
                    or self.forget)


def ordinal(text: str) -> int | None:
    """The 1-based card position an ordinal names ("third", "3rd", "#3", "number 3"); -1 for "last".

    Example:
        >>> ordinal("the third one"), ordinal("#2"), ordinal("last"), ordinal("Heat")
        (3, 2, -1, None)
    """
    words = re.sub(r"^(?:the\s+)", "", text.strip().lower())
    m = re.match(r"^(?:#\s*|(?:number|no\.?)\s*)?(\d{1,2})(?:st|nd|rd|th)?\b", words)
    if m:
        return int(m.group(1))
    first = words.split()[0] if words.split() else ""
    return ORDINALS.get(first)


#: the most separator-cut pieces one title spans ("Lock, Stock and Two Smoking Barrels" is 3)
MAX_TITLE_PIECES = 6
_SEP = re.compile(r"\s*[,;/&]\s*(?:and\s+|or\s+)?|\s+(?:and|or|plus)\s+", re.I)


def split_titles(text: str, is_title: Callable[[str], bool]) -> list[str]:
    """Titles in a list like "Heat, Alien and Toy Story", keeping a comma or "and" that belongs to a title.

    The text is cut at separators into pieces that are titles, or single unrecognised stretches (asked about
    later); the cut with the fewest unrecognised pieces, then the fewest pieces, wins.

    Example:
        >>> known = {"heat", "alien", "sense and sensibility", "monsters, inc."}
        >>> split_titles("Heat, Sense and Sensibility and Monsters, Inc.", lambda t: t.lower() in known)
        ['Heat', 'Sense and Sensibility', 'Monsters, Inc.']
        >>> split_titles("Heatt and Alien", lambda t: t.lower() in known)
        ['Heatt', 'Alien']
    """
    seps = list(_SEP.finditer(text))
    starts = [0] + [m.end() for m in seps]
    ends = [m.start() for m in seps] + [len(text)]
    n = len(starts)
    # from atom i: (unknown pieces, pieces, where the next piece starts, this piece or "" for none); a title spans
    # at most MAX_TITLE_PIECES atoms, so the work is linear in the text
    best: list[tuple[int, int, int, str]] = [(0, 0, n, "")] * (n + 1)
    for i in range(n - 1, -1, -1):
        options = []
        for j in range(i, min(n, i + MAX_TITLE_PIECES)):
            piece = _clean(text[starts[i]:ends[j]])
            unknown, count = best[j + 1][:2]
            if not piece:
                if j == i:
                    options.append((unknown, count, j + 1, ""))
            elif is_title(piece):
                options.append((unknown, count + 1, j + 1, piece))
            elif j == i:
                options.append((unknown + 1, count + 1, j + 1, piece))
        best[i] = min(options, key=lambda o: (o[0], o[1]))
    out, i = [], 0
    while i < n:
        _, _, i, piece = best[i]
        if piece:
            out.append(piece)
    return out


def _titles(text: str, is_title: Callable[[str], bool]) -> list[str]:
    """The titles a liked or disliked object names, without pronouns ("I liked them")."""
    return [t for t in split_titles(text, is_title) if not _PRONOUN.match(t)]


def _clean(piece: str) -> str:
    return _LEAD.sub("", _TRAIL.sub("", piece)).strip(" '\"")


def parse_message(text: str, is_title: Callable[[str], bool] = lambda _: False) -> Request:
    """Read one chat message into a :class:`Request`.

    Example:
        >>> known = {"heat", "alien", "titanic", "toy story"}
        >>> r = parse_message("I loved Heat and Alien, hated Titanic. No horror", lambda t: t.lower() in known)
        >>> r.liked, r.disliked, r.exclude_genres
        (['Heat', 'Alien'], ['Titanic'], ['Horror'])
        >>> r = parse_message("something like Toy Story but darker", lambda t: t.lower() in known)
        >>> r.liked, r.steer
        (['Toy Story'], 'darker')
        >>> parse_message("more like the third one").card_liked, parse_message("why the second?").why
        ([3], [2])
    """
    req = Request()
    rest = " ".join(text.split())
    counted = _COUNT.search(rest)
    if counted:  # "top 3 horror films": the number goes, the words stay ("top horror films")
        n = counted.group("n").lower()
        req.count = min(MAX_COUNT, max(1, int(n) if n.isdigit() else COUNT_WORDS[n]))
        start = counted.start() if re.match(r"just|only", counted.group(), re.I) else counted.start("n")
        rest = " ".join(f"{rest[:start]}{rest[counted.end('n'):]}".split())
    if _MORE.match(rest):
        req.more = True
        return req
    if _SEEN_PAGE.match(rest):
        req.seen = True
        return req
    gone = _FORGET.match(rest) if not _RESET.match(rest) else None
    if gone:
        req.forget = re.sub(r"\s+rule$", "", gone.group("t").strip(" '\"“”"), flags=re.I)
        return req
    if _UNDO.match(rest):
        req.undo = True
        return req
    if _HELP.match(rest):
        req.help = True
        return req
    if _THANKS.match(rest):
        req.thanks = True
        return req
    seen = _SEEN_CARDS.match(rest)
    if seen:
        if seen.group("that"):  # "I've seen it": the card last discussed
            req.seen_cards = [0]
        elif seen.group("edge"):
            n = int(seen.group("n")) if seen.group("n").isdigit() else COUNT_WORDS[seen.group("n").lower()]
            req.seen_cards = list(range(1, n + 1)) if seen.group("edge").lower() == "first" else list(range(-n, 0))
        else:
            req.seen_cards = [p for p in (ordinal(seen.group("ord")), ordinal(seen.group("ord2") or "")) if p]
        return req
    good = _LOOKS_GOOD.match(rest)
    if good and ordinal(good.group("ord")) is not None:
        req.card_liked.append(ordinal(good.group("ord")) or 0)
        return req
    asked, named = _ASPECT.search(rest), _CARD_IN.search(rest)
    following = rest[named.end():].split()[:1] if named else []  # "the first man on the moon" is no card
    if (asked and named and len(rest.split()) <= 10 and _QUESTION.search(rest)
            and (not following or following[0].lower().strip("?.!,") in _AFTER_CARD)):  # answered, the page stays
        pos = 0 if named.group("that") else ordinal(named.group("ord") or "")
        if pos is not None:
            req.about.append((pos, _aspect_asked(rest) or "plot"))
            return req
    titled = _about_title(rest, is_title) if asked and _QUESTION.search(rest) else None
    if titled:
        req.about.append(titled)
        return req
    that = _THAT_ONE.match(rest)
    if that:  # position 0: the card last discussed
        (req.card_disliked if that.group("neg") else req.card_liked).append(0)
        return req
    m = _RESET.match(rest)
    if m:
        req.reset = True
        rest = rest[m.end():]

    def take(pattern: re.Pattern[str], handle: Callable[[re.Match[str]], bool | None]) -> None:
        nonlocal rest
        pieces, last = [], 0
        for found in pattern.finditer(rest):
            if handle(found) is False:  # not what the pattern means here: the words stay for the other readers
                continue
            pieces.append(rest[last:found.start()])
            last = found.end()
        pieces.append(rest[last:])
        rest = " ; ".join(p for p in pieces if p.strip())

    def why(found: re.Match[str]) -> None:
        ref = found.group("ref").strip()
        pos = ordinal(ref)
        req.why.append(pos if pos is not None else _LEAD.sub("", re.sub(r"^(?:the\s+movie\s+)", "", ref)).strip())

    def card(found: re.Match[str]) -> None:
        pos = ordinal(found.group("ord"))
        if pos is None:
            return
        word = found.group("dir").lower().split()[0]
        liked = word in ("more", "love", "loved", "like", "liked", "enjoyed")
        (req.card_liked if liked else req.card_disliked).append(pos)

    def genre(target: list[str]) -> Callable[[re.Match[str]], None]:
        def add(found: re.Match[str]) -> None:
            name = GENRE_WORDS[normalize(found.group("g"))]
            if name not in target:
                target.append(name)
        return add

    def any_genre(_: re.Match[str]) -> None:
        req.any_genre = True

    def similar(found: re.Match[str]) -> None:
        titles, rest = _titles(found.group("t"), is_title), ""
        if titles and not is_title(titles[-1]):  # "like Pulp Fiction from the last 10 years": the title, then a steer
            words = titles[-1].split()
            cut = next((k for k in range(len(words) - 1, 0, -1) if is_title(" ".join(words[:k]))), 0)
            if cut:
                titles[-1], rest = " ".join(words[:cut]), " ".join(words[cut:])
        req.liked.extend(titles)  # "more like that but newer": no new title
        steer = ", ".join(x.strip() for x in (rest, found.group("steer") or "") if x.strip())
        if steer:
            req.steer = steer

    def known_titles(found: re.Match[str]) -> list[str]:
        """The titles the match names, or none unless every one is known ("I watched a film about sharks")."""
        titles = _titles(found.group("t"), is_title)
        return titles if all(is_title(t) for t in titles) else []

    def watched(found: re.Match[str]) -> bool:
        titles = known_titles(found)
        said = found.groupdict()
        (req.disliked if said.get("neg") or said.get("bad") else req.liked).extend(titles)
        return bool(titles)

    def after(found: re.Match[str]) -> bool:
        titles = known_titles(found)
        if not titles:
            return False
        req.liked.extend(titles)
        req.picks = True
        return True

    def verdict(found: re.Match[str]) -> None:
        (req.disliked if found.group("neg") else req.liked).extend(_titles(found.group("t"), is_title))

    take(_WHY, why)
    take(_CARD, card)
    take(_NO_GENRE, genre(req.exclude_genres))
    take(_ONLY_GENRE, genre(req.only_genres))
    take(_ANY_GENRE, any_genre)
    take(_SIMILAR, similar)
    take(_WATCHED_SAID, watched)
    take(_WATCHED, watched)
    take(_AFTER, after)
    take(_VERDICT, verdict)
    what_would = _WHAT_WOULD_I_LIKE.search(rest)  # before "I like" is read as a verdict on no title
    rest = _sentiments(rest, req, is_title)
    leftover = _FILLER.sub(" ", re.sub(r"[^\w' -]+", " ", rest))
    leftover = " ".join(w for w in leftover.split() if w.lower() not in _NOT_A_REQUEST)
    if not req.steer and not re.search(r"[A-Za-z]{3,}", leftover) and (_ASKS_FOR_PICKS.search(rest) or what_would):
        req.picks = True
    if leftover and not req.steer and re.search(r"[A-Za-z]{3,}", leftover):
        pieces = [p for p in re.split(r"\s;\s|(?<=[.!?])\s+", rest) if _asks_something(p)]  # not "Hi!", "my wife"
        text = " ".join(" ".join(pieces).split()).strip(" .,;!?")
        titles = split_titles(text, is_title)
        if req.is_empty() and titles and all(is_title(t) for t in titles):
            req.liked.extend(titles)  # a message that is only titles lists things the person liked
        else:
            steer = _FILLER_START.sub("", text).strip()
            req.steer = re.sub(r"(?:\s+(?:and|but|or|with|please))+$", "", steer or text, flags=re.I)
    return req


def _about_title(text: str, is_title: Callable[[str], bool]) -> tuple[str, str] | None:
    """A question about a named movie's facts, as (title, aspect), or None: the longest known title whose words
    around it only ask ("what is Inception about?", "who directed Toy Story?": "Story" is the title's, not a plot
    question). A specific aspect wins over "what is", which asks for the plot only when nothing else is asked.

    Example:
        >>> _about_title("who's in Heat?", lambda t: t.lower() == "heat")
        ('Heat', 'cast')
    """
    words = text.strip(" ?!.").split()
    if not 2 <= len(words) <= 12 or re.match(r"(?:what|how)\s+about\b", text, re.I):  # "how about Alien?" offers it
        return None
    for size in range(len(words) - 1, 0, -1):
        for start in range(len(words) - size + 1):
            title = " ".join(words[start:start + size]).strip(" ?!.,\"'“”")
            around = f"{' '.join(words[:start])} , {' '.join(words[start + size:])}"
            asked = _aspect_asked(around)
            left = re.sub(r"[^\w' ]+", " ", _ASPECT.sub(" ", around)).lower().split()
            if asked and all(w in _ASKING for w in left) and is_title(title):
                return title, asked
    return None


def _aspect_asked(text: str) -> str | None:
    """The fact a question asks for: the first specific one, else the plot ("what is the runtime of #2" asks
    the runtime, "what is #2" the plot)."""
    asked = [k for found in _ASPECT.finditer(text) for k in ASPECTS if found.group(k)]
    return next((k for k in asked if k != "plot"), asked[0] if asked else None)


#: the words a question about a named movie may hold besides its title and the aspect asked
_ASKING = {"what", "whats", "what's", "who", "who's", "whos", "how", "when", "where", "is", "was", "are", "does", "did",
           "do", "the", "movie", "film", "it", "in", "of", "for", "and", "so", "ok", "okay", "hey", "about", "run",
           "runs", "last", "lasts", "come", "came", "out", "on", "available", "made", "by", "tell", "me", "more",
           "please", "i", "can", "could", "we", "watch", "see", "a", "an", "its", "it's", "again"}


def _asks_something(piece: str) -> bool:
    """Whether a stretch of a message says anything about which movies (not "Hi!", "I", "my wife and", "to watch
    something with my girlfriend": a word of its own, not only words that link others)."""
    words = _FILLER.sub(" ", re.sub(r"[^\w' -]+", " ", piece)).split()
    return any(re.search(r"[A-Za-z]{3,}|\d\d", w) and w.lower() not in _NOT_A_REQUEST | _LINKING for w in words)


#: words that only link others ("with robots" asks for robots; "with my girlfriend" for nothing)
_LINKING = frozenset({"with", "to", "for", "of", "in", "on", "at", "by", "from", "about", "as", "that", "who", "when",
                      "where", "while", "after", "before", "into", "like"})


#: words that say nothing about which movies: "what should I watch tonight?", "recommend me something good"
_NOT_A_REQUEST = frozenset({
    "i", "me", "we", "us", "you", "and", "but", "a", "an", "the", "what", "which", "should", "could", "can", "shall",
    "would", "do", "does", "is", "are", "watch", "see", "good", "great", "nice", "fun", "decent", "tonight", "today",
    "now", "any", "ideas", "idea", "suggestion", "suggestions", "pick", "picks", "for", "this", "evening", "night",
    "weekend", "my", "our", "wife", "husband", "partner", "girlfriend", "boyfriend", "friend", "friends", "looking",
    "both", "together", "we'd", "i'm", "really", "she", "he", "they", "there", "next", "similar", "else", "more",
    "bored", "surprise", "something", "random", "actually", "instead", "though", "anyway", "then"})
#: a whole message asking for the next picks of the same request
_MORE = re.compile(r"^(?:(?:ok(?:ay)?|hmm+|nah|no|meh)[,.!]?\s+)?(?:(?:please\s+)?(?:show|give|find)\s+me\s+|any\s+|"
                   r"got\s+any\s+|can\s+i\s+see\s+|let'?s\s+see\s+)?(?:some\s+)?(?:more|next|others?|other\s+ones|"
                   r"some\s+others|(?:more|other|different|new)\s+(?:ones|picks|movies|films|suggestions|options)|"
                   r"something\s+else|anything\s+else|what\s+else|next\s+page|the\s+next\s+(?:ones|page|few)|"
                   r"different\s+ones|keep\s+going)(?:\s+(?:please|pls|then|one|ones))?\s*[.!?]*$", re.I)
_ASKS_FOR_PICKS = re.compile(r"\bwhat\s+(?:should|can|could|shall)\s+(?:i|we)\s+see\b|\bwhat\s+(?:next|now)\b|"
                             r"\bsurprise\s+(?:me|us)\b|\bbored\b|\bmore\s+please\b|"
                             r"\b(?:watch|recommend|suggest|picks?|ideas?|suggestions?|anything|something)\b", re.I)
#: "what would I like?", "what do you think I'd enjoy?": the page
_WHAT_WOULD_I_LIKE = re.compile(r"\bwhat\s+(?:would|will|might|do|else\s+would)\s+(?:i|we|you\s+think\s+i'?d?)\s+"
                                r"(?:like|love|enjoy)\b", re.I)
_FILLER_START = re.compile(r"^(?:(?:please|show\s+me|give\s+me|find\s+me|recommend(?:\s+me)?|i\s+want|"
                           r"surprise\s+(?:me|us)(?:\s+with)?|(?:what|how)\s+about|"
                           r"i'?d\s+(?:like|love)|i\s+would\s+(?:like|love)|can\s+you\s+(?:find|show|recommend)(?:\s+me)?|"
                           r"something|anything|some|a\s+movie|a\s+film|movies|films)\s+)+", re.I)


def _in_title(text: str, verb: re.Match[str], floor: int, is_title: Callable[[str], bool]) -> bool:
    """Whether a verb's word belongs to a title named around it: "In the Mood for Love", "Love Actually"."""
    head = text[floor:verb.start()]
    start = floor + max((m.end() for m in _SEP.finditer(head)), default=0)
    tail = text[verb.end():]
    ends = [m.start() for m in (_SEP.search(tail), _STOP.search(tail), _VERB.search(tail)) if m]
    piece = _clean(text[start:verb.end() + min(ends, default=len(tail))])
    return len(piece.split()) > 1 and is_title(piece)


def _sentiments(text: str, req: Request, is_title: Callable[[str], bool]) -> str:
    """Pull "I loved X and Y, hated Z" into ``req``; returns the text no verb claimed."""
    verbs: list[re.Match[str]] = []
    for m in _VERB.finditer(text):
        if not _REQUEST.search(text[:m.start()]) and not _in_title(text, m, verbs[-1].end() if verbs else 0,
                                                                     is_title):
            verbs.append(m)
    if not verbs:
        return text
    kept = [text[:verbs[0].start()]]
    named_last = [*req.liked, *req.disliked]  # the titles in the order they were named, for "it"
    for i, verb in enumerate(verbs):
        end = verbs[i + 1].start() if i + 1 < len(verbs) else len(text)
        chunk = text[verb.end():end]
        stop = _STOP.search(chunk)
        obj, after = (chunk[:stop.start()], chunk[stop.end():]) if stop else (chunk, "")
        asked = _ASKED.search(obj)  # "I loved Interstellar, what next?": the question is no title
        if asked and not is_title(_clean(obj[asked.end():].split(",")[0])):
            obj, after = obj[:asked.start()], f"{obj[asked.end():]} {after}"
        obj = re.sub(r"(?:(?:,|\s)+(?:and|but|i|we|also)?)+\s*$", "", obj.strip(), flags=re.I).strip(" ,")
        pieces = [obj] if not obj or is_title(obj) or _GENRE_LIST.fullmatch(obj) else split_titles(obj, is_title)
        for piece in pieces:  # "I hate musicals and anything with Adam Sandler": a rule, then a name ruled out
            kinds = _GENRE_LIST.fullmatch(piece) if piece and not is_title(piece) else None
            named = _ANYTHING_WITH.match(piece) if piece and not is_title(piece) else None
            if kinds and verb.group("neg"):  # "I can't stand romantic comedies": a genre rule, not a title
                req.exclude_genres.extend(g for g in _genres(kinds.group()) if g not in req.exclude_genres)
            elif kinds:  # "she loves musicals": what the page leans towards
                kept.append(piece)
            elif named:  # read by the search's parser: "nothing with X" is ruled out for the session
                kept.append(f"nothing {named.group('who')}" if verb.group("neg") else named.group("who"))
            elif _PRONOUN.match(piece) and named_last:  # "I loved Heat. Actually I didn't like it"
                title = named_last[-1]
                for said in (req.liked, req.disliked):
                    if title in said:
                        said.remove(title)
                (req.disliked if verb.group("neg") else req.liked).append(title)
            elif piece and not re.match(r"^(?:something|anything|some|movies|films)\b", piece, re.I):
                titles = _titles(piece, is_title)
                (req.disliked if verb.group("neg") else req.liked).extend(titles)
                named_last.extend(titles)
            elif piece:
                kept.append(piece)
        kept.append(after)
    return " ; ".join(k for k in kept if k.strip())
