"""All SQL lives here, one module per table. Repositories flush; they never commit."""
