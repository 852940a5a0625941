"""Devices over SSH: inventory, secure connections, deployment and the on-device runner."""
