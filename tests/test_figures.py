"""bench/figures.py: the README's and docs' figure tables are generated from the saved JSON, and --check fails where a
page disagrees with it (CI runs the check on the real pages)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def figures(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("figures", ROOT / "bench" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = tmp_path / "results" / "machine"
    results.mkdir(parents=True)
    info = {"cpu": "Test CPU", "cpus": 2, "bf16": "none", "torch": "2.13.0"}
    summary = {"minutes": {"mean": 20.0, "min": 19.0, "max": 21.0, "values": [19.0, 21.0]},
               "SFT harmful_refused": {"mean": 0.8, "min": 0.75, "max": 0.85, "values": [0.75, 0.85]}}  # fmt: skip
    run = {**info, "seeds": "1,2", "summary": summary, "runs": {"1": {}, "2": {}}}
    (results / "lmlab_run.json").write_text(json.dumps(run))
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "INTEL", "machine")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n<!-- figures: lmlab-run-seeds -->\nstale\n<!-- /figures: lmlab-run-seeds -->\n\nEnd.\n")
    monkeypatch.setattr(module, "PAGES", [page])
    return module, page


def test_a_table_is_written_from_its_json_and_check_fails_when_the_page_disagrees(figures, capsys):
    module, page = figures
    assert module.main(["--check"]) == 1 and "page.md: lmlab-run-seeds" in capsys.readouterr().out
    assert page.read_text().count("stale") == 1  # --check changes nothing
    assert module.main([]) == 0
    text = page.read_text()
    assert "| minutes | 19.0 | 21.0 | 20.0 [19.0, 21.0] |" in text
    assert "| SFT harmful_refused | 75.0% | 85.0% | 80.0% [75.0, 85.0] |" in text
    assert text.startswith("# Page\n") and text.endswith("\nEnd.\n") and "stale" not in text
    assert module.main(["--check"]) == 0
    page.write_text(text.replace("80.0% [75.0", "81.0% [75.0"))  # a figure edited by hand
    assert module.main(["--check"]) == 1


def test_a_marker_naming_no_table_is_an_error(figures):
    module, page = figures
    page.write_text("<!-- figures: nothing -->\n<!-- /figures: nothing -->\n")
    with pytest.raises(SystemExit, match="no table named 'nothing'"):
        module.main(["--check"])
