"""Pipelines: one ``edgesdk.toml`` for a model's whole path, stages re-run only when their
inputs change, and gates checked at the end (spec -> stages -> state -> gates -> runner)."""
