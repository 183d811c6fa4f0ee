"""Collaborative vectors, recency-weighted profiles, fusion ranking, evaluation and explanations."""
