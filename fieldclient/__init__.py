"""The reference sync client: what a phone does, in Python, without a framework.

It uses the protocol engine's envelope rules from ``sync``; ``sync`` never imports it.
``transport`` (one request in, one response out), ``local`` (the device's SQLite file),
``errors`` and ``retry`` (requests over a bad link), ``uploads`` (photos over tus),
``client`` (``SyncClient``: queue, push, pull), ``walk_plan`` and ``walk`` (the walk replay,
``python -m fieldclient.walk``).
"""
