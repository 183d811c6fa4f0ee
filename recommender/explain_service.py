"""Evidence and explanations for a page of recommendations, from what the ranker actually used."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import csr_matrix

from recommender.evidence import Evidence, build_evidence, co_like_counts
from recommender.profile import Interaction, interaction_weights

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from index.config import Settings
    from recommender.api import Recommendation, Recommender

#: the ALS confidence of a 4-star rating (1 + 4 * 4/5): at or above it, a person "loved" the movie
LOVED_CONFIDENCE = 1 + 4 * 4 / 5


def loved_from_confidence(matrix: csr_matrix, threshold: float = LOVED_CONFIDENCE) -> csr_matrix:
    """The users x items 0/1 matrix of "loved" (rated 4 or more) from the ranker's confidence matrix.

    Example:
        >>> loved_from_confidence(csr_matrix(np.array([[4.2, 2.0]]))).toarray().tolist()
        [[1.0, 0.0]]
    """
    loved = csr_matrix(matrix >= threshold - 1e-6, dtype=np.float32)
    loved.eliminate_zeros()
    return loved


def page_evidence(rec: Recommender, recs: Sequence[Recommendation], history: Sequence[Interaction]) -> list[Evidence]:
    """One :class:`Evidence` per recommendation: anchors from the liked history per signal, shared features,
    review sentences, and how many people loved both.

    Example:
        >>> # page_evidence(rec, rec.recommend(history), history)[0].anchors
    """
    weights = interaction_weights(history, rec.model.half_life_days)
    liked = [m for m, w in weights.items() if w > 0 and m in rec.payloads]
    hist = [(rec.payloads[m], w) for m, w in weights.items() if m in rec.payloads]
    signals = [s for s in rec.signals if s != "poster" or "poster" in rec.items.vectors]
    vectors = rec.store.vectors([r.movie_id for r in recs] + liked, signals)
    if rec._loved is None:
        assert rec.model.inter is not None
        rec._loved = loved_from_confidence(rec.model.inter.matrix)
    out = []
    for r in recs:
        co = co_like_counts(rec._loved, rec._col_of, liked, r.movie_id)
        out.append(build_evidence(rec.payloads.get(r.movie_id, {}), hist, vectors.get(r.movie_id, {}),
                                  {m: vectors.get(m, {}) for m in liked}, co_likes=co,
                                  contributions={k: max(v, 0.0) for k, v in r.contributions.items()}))
    return out


def load_explainer(store_location: str | Settings, kind: str = "auto") -> Any:
    """The fine-tuned model where ``<store>/explainer`` holds an adapter (``kind="auto"`` or ``"model"``), else
    the template explainer; ``"model"`` without an adapter uses the base model (still checked, so still true).

    Example:
        >>> type(load_explainer("/nonexistent", "auto")).__name__
        'TemplateExplainer'
    """
    from recommender.explain import LMExplainer, TemplateExplainer, explainer_dir

    folder = explainer_dir(store_location)
    if kind == "template" or (kind == "auto" and not (folder / "adapter_config.json").is_file()):
        return TemplateExplainer()
    if not (folder / "adapter_config.json").is_file():
        log.warning("no fine-tuned explainer in %s (train one with `cinefuse train-explainer`); using the base model",
                    folder)
        return LMExplainer.load(None)
    return LMExplainer.load(folder)


def explain_page(rec: Recommender, recs: list[Recommendation], history: Sequence[Interaction]
                 ) -> list[Recommendation]:
    """Fill each recommendation's ``evidence`` and a checked ``explanation``.

    Example:
        >>> # explain_page(rec, recs, history)[0].explanation
    """
    if not recs or not history:
        return recs
    if rec.explainer is None:
        rec.explainer = load_explainer(rec.settings)
    evidence = page_evidence(rec, recs, history)
    for r, e, text in zip(recs, evidence, rec.explainer.explain(evidence), strict=True):
        r.evidence, r.explanation = e, text
    return recs
