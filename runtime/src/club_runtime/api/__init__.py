"""The HTTP API (FastAPI) of one club's platform."""
