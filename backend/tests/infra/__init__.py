"""Infrastructure tests: migrations and the real server process."""
