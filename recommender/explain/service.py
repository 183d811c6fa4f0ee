"""Evidence and explanations for a page of recommendations, from what the ranker actually used."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from recommender.explain.evidence import (
    Evidence,
    build_evidence,
    co_like_counts,
    overview_sentence,
    prepare_history,
    query_matches,
    sanitize_text,
)
from recommender.ranking.profile import Interaction, interaction_weights
from recommender.ranking.recommendation import Recommendation

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import numpy as np
    from scipy.sparse import csr_matrix

    from index.config import Settings
    from index.store import VectorStore
    from recommender.ranking.fusion import FusionModel, ItemTable


class Explainable(Protocol):
    """What explaining a page needs from a recommender (:class:`recommender.api.Recommender` is one): the
    movies' payloads and vectors, the fitted model, who loved what, the settings and the explainer to use."""

    payloads: dict[int, dict[str, Any]]
    signals: list[str]
    items: ItemTable
    store: VectorStore
    model: FusionModel
    settings: Settings
    explainer: Any

    @property
    def column_of(self) -> Mapping[int, int]: ...

    def loved(self) -> tuple[csr_matrix, np.ndarray]: ...


def page_evidence(rec: Explainable, recs: Sequence[Recommendation], history: Sequence[Interaction]) -> list[Evidence]:
    """One :class:`Evidence` per recommendation: anchors from the liked history per signal, shared features,
    relevant review quotes, how many people loved both (and each liked movie at all), the pick's own rating
    count, why it is on the page (``reason``) and, for a search or a steered page, what matches the description.

    Example:
        >>> # page_evidence(rec, rec.recommend(history), history)[0].anchors
    """
    weights = interaction_weights(history, rec.model.half_life_days) if history else {}
    sentiments = {i.movie_id: i.sentiment() for i in history}
    liked = [m for m, w in weights.items() if w > 0 and m in rec.payloads]
    hist = [(rec.payloads[m], w) for m, w in weights.items() if m in rec.payloads]
    signals = [s for s in rec.signals if s != "poster" or "poster" in rec.items.vectors]
    vectors = rec.store.vectors([r.movie_id for r in recs] + liked, signals) if liked else {}
    loved, fans = None, {}
    if liked:
        loved, fan_counts = rec.loved()
        fans = {m: int(fan_counts[rec.column_of[m]]) for m in liked if m in rec.column_of}
    history_vectors = {m: vectors.get(m, {}) for m in liked}
    prepared = prepare_history(hist, history_vectors)  # once per page: a history can hold thousands of films
    out = []
    for r in recs:
        payload = rec.payloads.get(r.movie_id, {"movie_id": r.movie_id, "title": r.title})
        co = co_like_counts(loved, rec.column_of, liked, r.movie_id) if loved is not None else {}
        evidence = build_evidence(payload, hist, vectors.get(r.movie_id, {}), history_vectors,
                                  co_likes=co, contributions={k: max(v, 0.0) for k, v in r.contributions.items()},
                                  fans=fans, sentiments=sentiments, reason=r.reason, prepared=prepared)
        if r.query:
            evidence.query = sanitize_text(r.query, 80)
            parsed = parser_matches(r.match)  # what the query parser matched comes first: it read the names
            evidence.query_matches = list(dict.fromkeys([*parsed, *query_matches(r.query, payload)]))[:3]
            if r.reason == "search" or not evidence.query_matches:
                # a line that fits a card; beside a literal match, only one that shares a word of the description
                evidence.overview_sentence = overview_sentence(r.query, payload, max_chars=120,
                                                               require_match=bool(evidence.query_matches))
        out.append(evidence)
    return out


#: the query parser's match facts (index.match) that a card's first sentence can state, as evidence kinds
_PARSER_KINDS = {"directed by": "director", "starring": "cast", "written by": "writer", "studio": "studio",
                 "franchise": "franchise", "keywords": "keyword", "genres": "genre"}


def parser_matches(match: Mapping[str, Sequence[str]] | None) -> list[tuple[str, str]]:
    """The query parser's match facts as (evidence kind, value), in the parser's order.

    Example:
        >>> parser_matches({"written by": ["Quentin Tarantino"], "year": ["1994"], "keywords": ["heist"]})
        [('writer', 'Quentin Tarantino'), ('keyword', 'heist')]
    """
    return [(_PARSER_KINDS[k], str(v)) for k, values in (match or {}).items() if k in _PARSER_KINDS for v in values]


def load_explainer(store_location: str | Settings, kind: str = "auto") -> Any:
    """The explainer to show: templates for ``"auto"`` and ``"template"`` (they win the truth audit of
    ``benchmarks/explain_audit.py``, see the README), the language model for ``"model"``: the fine-tuned adapter in
    ``<store>/explainer`` where there is one, else the base model; it only rewrites the template's sentence and
    anything it changes about a title, name, number, label or quote sends the template instead.

    Example:
        >>> type(load_explainer("/nonexistent", "auto")).__name__
        'TemplateExplainer'
    """
    from recommender.explain.lm import LMExplainer, TemplateExplainer, explainer_dir

    if kind in ("auto", "template"):
        return TemplateExplainer()
    folder = explainer_dir(store_location)
    if not (folder / "adapter_config.json").is_file():
        log.warning("no fine-tuned explainer in %s (train one with `cinefuse train-explainer`); using the base model",
                    folder)
        return LMExplainer.load(None)
    return LMExplainer.load(folder)


def explain_page(rec: Explainable, recs: list[Recommendation], history: Sequence[Interaction]
                 ) -> list[Recommendation]:
    """Fill each recommendation's ``evidence`` and ``explanation``, whatever put it on the page (ranked,
    exploration, popular, search): one call to the explainer for the whole page, so the app and the API show the
    same text for the same page.

    Example:
        >>> # explain_page(rec, recs, history)[0].explanation
    """
    if not recs:
        return recs
    if rec.explainer is None:
        rec.explainer = load_explainer(rec.settings)
    evidence = page_evidence(rec, recs, history)
    for r, e, text in zip(recs, evidence, rec.explainer.explain(evidence), strict=True):
        r.evidence, r.explanation = e, text
    return recs
