"""Business rules. Services call repositories, raise AppError, never commit and never
import FastAPI: the request's session dependency owns the transaction."""
