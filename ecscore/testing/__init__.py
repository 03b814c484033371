"""Support code for the tests and the benchmarks; the portal itself never imports it."""
