"""authapi: a layered FastAPI authentication backend."""

__version__ = "0.1.0"
