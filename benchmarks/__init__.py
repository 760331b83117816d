"""Load benchmarks of imgorigin (`make bench`) and of peers on the same box (`make bench-peers`).

See benchmarks/README.md for the scenarios and how to read their ratios.
"""
