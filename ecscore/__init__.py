"""Plumbing that imports nothing of the ECS's domain.

Errors (``errors``) and their ProblemDetails form (``problems``), the base view of the 3GPP
APIs (``views``), 3GPP schema validation (``schemas``), outbound HTTP (``outbound``), single
flight (``singleflight``), hand-written SQL helpers (``db``), per-process memos (``memo``),
rate limits, request ids, the change log and the configuration-file framework.
"""
