"""Compression before quantization: pruning, clustering, QAT and distillation (tfmot)."""
