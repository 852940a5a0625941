"""Inputs: representative and evaluation samples, datasets that ship offline, model loading."""
