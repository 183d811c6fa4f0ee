"""Ranking: ratings as matrices (``interactions``), histories and their weights (``profile``), validation and
test splits (``splits``), the collaborative models (``collaborative``: ALS, item-kNN, EASE, popularity), content
and metadata signals (``content_map``, ``metadata``), what was rated around a history's date (``era``) and the
trained fusion ranker over all of them (``fusion``).

It imports ``index`` and ``encoders`` only, never explanations, evaluation or the app.
"""
