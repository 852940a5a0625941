"""Tests on the emulated aarch64 Raspberry Pi (a package, so its conftest keeps its own module name)."""
