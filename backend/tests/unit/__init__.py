"""Unit tests: pure functions and services on a real database, no HTTP."""
