"""Business rules. Services call repositories, raise AppError and never import
FastAPI; they say what to write, and a unit of work (authapi.unit_of_work) commits
it: no service builds a Session, commits or rolls back."""
