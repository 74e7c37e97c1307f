"""The example experiment family of docs/experiment-families.md; tests/test_families.py registers and runs it."""
