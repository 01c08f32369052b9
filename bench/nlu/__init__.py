"""NLU benchmark: `python -m bench.nlu` (see bench/nlu/run.py)."""
