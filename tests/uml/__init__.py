"""Smoke tests of the user-mode Linux lane itself (hack/uml)."""
