"""Fixtures for the DTS emulator (see tests/dts_emulator)."""
