"""Hostile tests: faults and bad input over real loopback HTTP (issue 12)."""
