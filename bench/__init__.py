"""Benchmarks of ECS Portal in production mode; run them with ``python bench/run.py``."""
