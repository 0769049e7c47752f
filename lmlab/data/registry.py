"""What `lmlab data list` shows: the built-in corpora and datasets."""

from lmlab.data.corpus import BUILTIN_CORPORA


def list_datasets() -> list[tuple[str, str, str]]:
    """(name, kind, description) of every built-in dataset."""
    return [(c.name, "corpus", c.description) for c in BUILTIN_CORPORA.values()]
