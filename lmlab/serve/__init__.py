"""Serving a run: an OpenAI-compatible HTTP API and a web chat page (lmlab.serve.app)."""
