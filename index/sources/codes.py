"""Language and country names or codes, as sources write them, to ISO 639-1 and ISO 3166-1 alpha-2 codes."""

from __future__ import annotations

from functools import lru_cache

import langcodes

# Where the ISO tables and langcodes' name data differ from what movie files write.
_LANGUAGE_ALIASES = {
    "cn": "zh",  # TMDB's own code for Cantonese
    "yue": "zh", "cmn": "zh", "cantonese": "zh", "mandarin": "zh",  # Chinese varieties: 639-1 has only zh
    "fil": "tl", "filipino": "tl",
    "prs": "fa",  # Dari
    "nb": "no", "nn": "no",  # TMDB writes Norwegian both ways
}
_NO_LANGUAGE = frozenset({"", "xx", "none", "no language", "silent", "n/a", "und", "zxx"})
_COUNTRY_ALIASES = {"usa": "US", "us": "US", "uk": "GB", "west germany": "DE", "east germany": "DD",
                    "soviet union": "SU", "ussr": "SU", "yugoslavia": "YU", "czechoslovakia": "CS"}


@lru_cache(maxsize=4096)
def language_code(value: str | None) -> str | None:
    """The ISO 639-1 code for a language code or name, or None where there is none.

    Accepts codes (``"en"``, ``"EN"``, TMDB's ``"cn"``) and names in English or in the language itself
    (``"Mandarin"``, ``"Español"``). Chinese varieties map to ``zh`` and Dari to ``fa``, since ISO
    639-1 has no code of their own; a language without a two-letter code (Aramaic) gives None.

    Example:
        >>> language_code("English"), language_code("Mandarin"), language_code("cn"), language_code("Aramaic")
        ('en', 'zh', 'zh', None)
    """
    if not value:
        return None
    text = " ".join(str(value).split()).casefold()
    if text in _NO_LANGUAGE:
        return None
    if text in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[text]
    if len(text) in (2, 3) and text.isalpha() and langcodes.tag_is_valid(text):
        tag = text
    else:
        try:
            tag = str(langcodes.find(text))
        except LookupError:
            return None
    code = langcodes.standardize_tag(tag, macro=True).split("-")[0]
    code = _LANGUAGE_ALIASES.get(code, code)
    return code if len(code) == 2 else None


@lru_cache(maxsize=4096)
def country_code(value: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code for a country code or English name, or None where it names none.

    Historic countries keep the codes TMDB uses for them (``SU`` for the Soviet Union).

    Example:
        >>> country_code("USA"), country_code("UK"), country_code("South Korea"), country_code("Official site")
        ('US', 'GB', 'KR', None)
    """
    if not value:
        return None
    text = " ".join(str(value).split())
    if text.casefold() in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[text.casefold()]
    if len(text) == 2 and text.isalpha():
        return text.upper()
    try:
        territory = langcodes.Language.find_name("territory", text, "en").territory
    except LookupError:
        return None
    return territory if territory and len(territory) == 2 and territory.isalpha() else None
