"""Benchmark scripts: each runs a reference implementation in the same run and reports the ratio."""
