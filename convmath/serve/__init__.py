"""``convmath serve``: a local page that shows every number of a network, forward and backward.

:class:`~convmath.serve.served.ServedModel` answers the JSON API about one
model, :class:`~convmath.serve.live_training.LiveTraining` runs a training
started from the page, :class:`~convmath.serve.app.App` holds the two for
every request, and :mod:`convmath.serve.server` serves them with the page's
files (``assets/``). docs/SERVE.md documents the API.
"""
