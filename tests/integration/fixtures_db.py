"""Fixtures for throwaway database servers (see tests/localdb)."""
