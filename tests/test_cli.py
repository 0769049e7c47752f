import argparse
import hashlib
import subprocess
import sys

import pytest
import yaml

import lmlab
from lmlab.cli import build_parser, main

TINY = ["--preset", "tiny", "--no-progress", "--dtype", "float32"]


def folder_digest(path):
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture
def trained(text_file, tmp_path):
    run = tmp_path / "run"
    assert main(["pretrain", *TINY, "--data", str(text_file), "--out", str(run), "--max-iters", "10"]) == 0
    return run


def test_end_to_end_pretrain_sample_eval_resume(trained, capsys):
    for name in ("config.yaml", "tokenizer.json", "model.safetensors", "metrics.jsonl"):
        assert (trained / name).is_file()
    capsys.readouterr()
    assert main(["sample", str(trained), "--prompt", "John 3:", "--max-new-tokens", "20", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("John 3:") and len(first) > len("John 3:")
    main(["sample", str(trained), "--prompt", "John 3:", "--max-new-tokens", "20", "--seed", "1"])
    assert capsys.readouterr().out == first  # seeded sampling is reproducible
    assert main(["eval", str(trained)]) == 0
    out = capsys.readouterr().out
    metrics = {line.split(":")[0].strip(): float(line.split(":")[1]) for line in out.strip().splitlines()}
    assert 0 < metrics["val_loss"] < 5 and metrics["val_bpb"] > 0
    assert metrics["val_perplexity"] == pytest.approx(2.718281828 ** metrics["val_loss"], rel=1e-3)
    assert main(["pretrain", "--resume", str(trained), "--max-iters", "14", "--no-progress"]) == 0
    assert (trained / "ckpt" / "LATEST").read_text() == "step-0000014"


def test_help_lists_commands_and_documents_options():
    out = subprocess.run([sys.executable, "-m", "lmlab", "--help"], capture_output=True, text=True).stdout
    for command in ("run", "pretrain", "sample", "eval", "data"):
        assert command in out
    out = subprocess.run([sys.executable, "-m", "lmlab", "pretrain", "--help"], capture_output=True, text=True).stdout
    for flag in (
        "--out",
        "--preset",
        "--config",
        "--max-iters",
        "--device",
        "--seed",
        "--resume",
        "--pos-encoding",
        "--lr",
    ):
        assert flag in out


def test_lmlab_alone_lists_every_command_once_grouped_by_stage_and_exits_0():
    done = subprocess.run([sys.executable, "-m", "lmlab"], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("   ")]
    assert sorted(listed) == sorted(commands)  # each command once, none missing, none unknown
    headings = [line for line in done.stdout.splitlines() if line.endswith(":")]
    assert headings[:2] == ["the whole story:", "stage 1, pre-training:"] and listed[:2] == ["run", "pretrain"]
    assert "   dpo " in done.stdout and "DPO, cDPO" in done.stdout  # with each command's help


def test_version():
    done = subprocess.run([sys.executable, "-m", "lmlab", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"lmlab {lmlab.__version__}"


def run_error(argv, capsys):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("lmlab: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_data_gives_one_clear_line(tmp_path, capsys):
    empty, latin, jsonl = tmp_path / "empty.txt", tmp_path / "latin.txt", tmp_path / "bad.jsonl"
    empty.write_text("")
    latin.write_bytes("abc\nd\xe9f".encode("latin-1"))
    jsonl.write_text('{"text": "a"}\n{"txt": "b"}\n')
    assert "empty.txt: the file is empty" in run_error(
        ["pretrain", *TINY, "--data", str(empty), "--out", str(tmp_path / "o1")], capsys
    )
    assert "byte offset 5" in run_error(
        ["pretrain", *TINY, "--data", str(latin), "--out", str(tmp_path / "o2")], capsys
    )
    assert "bad.jsonl:2:" in run_error(["pretrain", *TINY, "--data", str(jsonl), "--out", str(tmp_path / "o3")], capsys)
    assert "no such file or folder" in run_error(["pretrain", *TINY, "--data", str(tmp_path / "nope.txt")], capsys)
    short = tmp_path / "short.txt"
    short.write_text("a few words only\n")
    assert "too short" in run_error(["pretrain", *TINY, "--data", str(short), "--out", str(tmp_path / "o4")], capsys)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


def test_bad_config_lists_valid_keys(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  learning_rate: 0.1\n")
    err = run_error(["pretrain", *TINY, "--config", str(cfg)], capsys)
    assert "unknown config key 'learning_rate'" in err and "lr," in err
    assert "pos_encoding must be one of" in run_error(["pretrain", *TINY, "--pos-encoding", "alibi"], capsys)
    assert "unknown preset" in run_error(["pretrain", "--preset", "huge"], capsys)


def test_existing_and_broken_run_folders_are_never_damaged(trained, text_file, capsys):
    before = folder_digest(trained)
    assert "already holds a run" in run_error(
        ["pretrain", *TINY, "--data", str(text_file), "--out", str(trained)], capsys
    )
    assert folder_digest(trained) == before

    record = yaml.safe_load((trained / "config.yaml").read_text())
    record["lmlab_format"] = 99
    (trained / "config.yaml").write_text(yaml.safe_dump(record))
    before = folder_digest(trained)
    assert "format 99 is not supported" in run_error(["pretrain", "--resume", str(trained)], capsys)
    assert "format 99 is not supported" in run_error(["sample", str(trained)], capsys)
    assert folder_digest(trained) == before


def test_mismatched_tokenizer_is_refused(trained, tmp_path, capsys):
    from lmlab.tokenizer import train_char

    train_char(["a different alphabet: xyz"]).save(trained / "tokenizer.json")
    before = folder_digest(trained)
    assert "does not match the checkpoint" in run_error(["sample", str(trained)], capsys)
    assert "does not match the checkpoint" in run_error(["pretrain", "--resume", str(trained)], capsys)
    assert "does not match the checkpoint" in run_error(["eval", str(trained)], capsys)
    assert folder_digest(trained) == before


def test_data_list_shows_builtin_corpora(capsys):
    assert main(["data", "list"]) == 0
    assert "web" in capsys.readouterr().out
