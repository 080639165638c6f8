"""Benchmarks: each script prints its numbers and a ratio against a baseline measured in the same run
(docs/benchmarks.md). Run one as `python bench/bench_generate.py` or `python -m bench.bench_generate`."""
