"""Quantization: converter set-up, the run, the accuracy-budget search and its recipes."""
