"""Chaos tests: the portal in production mode while its own PostgreSQL and Redis fail.

``harness`` starts the servers (a PostgreSQL cluster and a Redis of the test's own, gunicorn,
the worker), ``load`` sends mixed EDGE-4/6/10 traffic and keeps the books, and
``test_chaos`` stops, freezes and restarts each server under that traffic and checks what an
operator would check afterwards.
"""
