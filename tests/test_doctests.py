"""The docstring examples of the light modules are executed, so the documentation cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["index.movie", "index.merge", "index.sources.codes",
           "index.store", "index.cache", "index.titles", "index.config", "index.errors",
           "index.build", "recommender.ranking.profile", "recommender.ranking.fusion", "recommender.ranking.tables",
           "recommender.ranking.recommendation", "encoders.errors", "app.data", "recommender.api",
           "recommender.explain.service", "app.cli", "app.chat", "app.session", "app.ui",
           "app.views", "app.evaluation", "app.sessions"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
