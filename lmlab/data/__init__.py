"""Data: built-in corpora, reading user text, the token cache, chat formatting and task data."""
