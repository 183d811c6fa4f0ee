"""Explanations: what a card may say (``evidence``: anchors, shared features, quotes, co-likes, from what the
ranker used), the slot-filled sentences (``templates``), the small language model that can rewrite them and the
checker that refuses any claim the evidence does not hold (``lm``), its LoRA fine-tuning (``train``), and a
page's evidence and text for the API and the app (``service``).

It imports ``ranking`` (histories, the recommendations it explains) and ``index``, never evaluation or the app.
"""
