"""Helpers shared by the test suite (namespaces, kernel feature probes, processes)."""
