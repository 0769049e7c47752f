"""DIR/index.md: the Markdown page that lists what the inspections wrote in DIR, one section per inspection.

Each inspection replaces its own section and keeps the others', so attention, context and lens can share a DIR.
"""

from pathlib import Path

from lmlab.experiments.report import markdown_cell

TITLE = "# Inside the model (`lmlab inspect`)"


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]


def write_index(out: Path, name: str, lines: list[str]) -> Path:
    """Put `lines` under '## name' in out/index.md, replacing an earlier section of that name."""
    path = Path(out) / "index.md"
    sections = {}
    if path.is_file():
        for chunk in path.read_text().split("\n## ")[1:]:
            title, _, body = chunk.partition("\n")
            sections[title] = body.rstrip("\n")
    sections[name] = "\n" + "\n".join(lines)
    path.write_text("\n\n".join([TITLE] + [f"## {title}\n{body}" for title, body in sections.items()]) + "\n")
    return path
