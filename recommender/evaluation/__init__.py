"""Offline evaluation: ranking metrics as pure functions (``metrics``), one model scored on one split
(``protocol``: protocols A and B, the baselines) and the experiments of ``cinefuse evaluate`` with their report
(``experiments``: A, B, C new people, cold-start items, the content ablation, bootstrap intervals).

It imports ``ranking`` (the models it measures) and ``index``, never explanations or the app.
"""
