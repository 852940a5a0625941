"""Core: options, target profiles and their built-in data, results, manifests, atomic output."""
