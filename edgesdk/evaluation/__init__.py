"""Evaluation: the same samples through float, LiteRT, TFLite Micro and a device."""
