"""Reading the project's and the user's data files: JSONL records with errors that name file:line."""

import json
from collections.abc import Iterator
from pathlib import Path

from lmlab.errors import LmlabError

BOM = "\ufeff"  # the byte order mark some editors put at the start of a UTF-8 file


def jsonl_records(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON) of every non-blank line (a leading BOM dropped); bad UTF-8 or JSON names file:line."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise LmlabError(f"{path}:{lineno}: not UTF-8 text (invalid byte at column {e.start + 1})") from None
            if lineno == 1:
                line = line.removeprefix(BOM)
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise LmlabError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None


def text_field(record: dict, name: str, where: str) -> str:
    """record[name], which must be non-empty text; otherwise an error naming `where` (file:line) and the field."""
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LmlabError(f"{where}: {name!r} must be non-empty text")
    return value
