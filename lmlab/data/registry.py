"""What `lmlab data list` shows: the built-in corpora and datasets."""

from lmlab.data.corpus import BUILTIN_CORPORA


def list_datasets() -> list[tuple[str, str, str]]:
    """(name, kind, description) of every built-in dataset."""
    corpora = [(c.name, "corpus", c.description) for c in BUILTIN_CORPORA.values()]
    parallel = [
        (
            "kjv-web",
            "translation",
            "KJV -> WEB verse-aligned pairs (31k), split by verse or book; lmlab translate-train",
        )
    ]
    from lmlab.data.tasks import list_task_datasets

    preferences = [
        ("sentiment", "preference", "controlled sentiment: WEB verse prefixes to continue positively, judged by VADER; "
         "lmlab pairs --task sentiment"),
        ("tasks", "preference", "correctness on add_2d, add_3d, reverse_word, count_letter, verse_reference, judged "
         "by the task grader; lmlab pairs --task tasks"),
    ]  # fmt: skip
    return corpora + parallel + list_task_datasets() + preferences
