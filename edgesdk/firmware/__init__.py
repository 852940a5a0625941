"""Firmware: the TFLite Micro C bundle and the C text writer."""
