"""``convmath serve``: a local page that shows every number of a network, forward and backward.

:class:`~convmath.serve.served.ServedModel` answers the JSON API about one
model, :class:`~convmath.serve.live_training.LiveTraining` runs a training
started from the page, and :mod:`convmath.serve.server` serves both with
the page's files (``assets/``). docs/SERVE.md documents the API.
"""
