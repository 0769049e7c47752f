"""Run folders that survive anything: confined checkpoint paths, one process per run, killed saves,
damaged checkpoints, and the token cache shared by several processes."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from lmlab.cli import main
from lmlab.data.tokens import _tokenize_to, prepare_data, prepare_tokenizer
from lmlab.runs import RunFolder
from lmlab.stages.pretrain import PretrainConfig, pretrain

TINY = ["--preset", "tiny", "--no-progress", "--dtype", "float32"]


def tiny(text_file, **overrides):
    return PretrainConfig.build(
        "tiny", overrides=dict(data=str(text_file), dtype="float32", progress=False, **overrides)
    )


def one_line_error(argv, capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lmlab: error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def trained(text_file, tmp_path):
    return pretrain(tiny(text_file, max_iters=8, eval_interval=4), out=tmp_path / "run")


def victim_folder(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    return victim


# ---- paths a run folder names ------------------------------------------------------------------
def test_a_fresh_out_folder_with_a_ckpt_pointing_elsewhere_is_refused_and_nothing_is_deleted(
    text_file, tmp_path, capsys
):
    victim = victim_folder(tmp_path)
    out = tmp_path / "out"
    (out / "ckpt").mkdir(parents=True)
    (out / "ckpt" / "LATEST").write_text(str(victim))
    err = one_line_error(["pretrain", *TINY, "--data", str(text_file), "--out", str(out), "--max-iters", "4"], capsys)
    assert "holds a ckpt folder but no run" in err
    assert (victim / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("target", ["a folder elsewhere", "another run's checkpoint", "a path out of ckpt"])
def test_latest_naming_anything_but_its_own_checkpoint_is_refused_on_resume(trained, text_file, tmp_path, target,
                                                                            capsys):  # fmt: skip
    victim = victim_folder(tmp_path)
    other = pretrain(tiny(text_file, max_iters=8, eval_interval=4), out=tmp_path / "other")
    name = {
        "a folder elsewhere": str(victim),
        "another run's checkpoint": "../../other/ckpt/step-0000008",
        "a path out of ckpt": "step-0000008/../../../victim",
    }[target]
    (trained / "ckpt" / "LATEST").write_text(name)
    err = one_line_error(["pretrain", "--resume", str(trained), "--max-iters", "12", "--no-progress"], capsys)
    assert "not a checkpoint of this run" in err
    assert (victim / "precious.txt").read_text() == "keep me"
    assert (other / "ckpt" / "step-0000008" / "model.safetensors").is_file()


def test_a_checkpoint_folder_that_is_a_symlink_is_never_followed_or_deleted(trained, tmp_path, capsys):
    victim = victim_folder(tmp_path)
    ckpt = trained / "ckpt"
    for step in ckpt.glob("step-*"):
        os.rename(step, tmp_path / step.name)
    (ckpt / "step-0000008").symlink_to(victim, target_is_directory=True)
    (ckpt / "step-0000002").symlink_to(victim, target_is_directory=True)  # an "old" checkpoint to clean up
    err = one_line_error(["pretrain", "--resume", str(trained), "--max-iters", "12", "--no-progress"], capsys)
    assert "missing" in err
    assert (victim / "precious.txt").read_text() == "keep me"
    assert RunFolder(trained).checkpoints() == []  # symlinks are not checkpoints, so never deleted as old ones


def test_eval_of_a_run_whose_corpus_is_gone_needs_data_and_takes_it(trained, text_file, tmp_path, capsys):
    copy = tmp_path / "copy.txt"
    copy.write_bytes(text_file.read_bytes())
    text_file.unlink()
    err = one_line_error(["eval", str(trained), "--device", "cpu"], capsys)
    assert str(text_file) in err and "--data" in err
    assert main(["eval", str(trained), "--device", "cpu", "--data", str(copy)]) == 0
    assert "val_bpb" in capsys.readouterr().out


# ---- two processes --------------------------------------------------------------------------------
def test_a_second_process_on_a_locked_run_gets_one_line_naming_the_holder(trained, text_file, tmp_path, capsys):
    lock = RunFolder(trained).lock()
    lock.claim()
    try:
        err = one_line_error(["pretrain", "--resume", str(trained), "--max-iters", "12", "--no-progress"], capsys)
        assert f"in use by another lmlab process (pid {os.getpid()})" in err
    finally:
        lock.release()
    new = tmp_path / "new"
    lock = RunFolder(new).lock()
    lock.claim()
    try:
        err = one_line_error(["pretrain", *TINY, "--data", str(text_file), "--out", str(new)], capsys)
        assert f"pid {os.getpid()}" in err
    finally:
        lock.release()


def test_two_runs_started_together_in_one_folder_never_corrupt_it(text_file, tmp_path):
    out = tmp_path / "shared"
    argv = [sys.executable, "-m", "lmlab", "pretrain", *TINY, "--data", str(text_file), "--out", str(out),
            "--max-iters", "40", "--log-interval", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "in use by another lmlab process" in loser or "already holds a run" in loser
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 40
    assert [p.name for p in RunFolder(out).checkpoints()] == ["step-0000040"]


# ---- killed at any moment ---------------------------------------------------------------------------
def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_zero(text_file, tmp_path):
    straight = pretrain(tiny(text_file, max_iters=8, dropout=0.1), out=tmp_path / "straight")
    killed = pretrain(tiny(text_file, max_iters=8, dropout=0.1), out=tmp_path / "killed")
    for f in ("ckpt/step-0000008/model.safetensors", "ckpt/step-0000008/optimizer.pt", "ckpt/step-0000008/trainer.pt"):
        (killed / f).unlink()
    (killed / "ckpt" / "step-0000008").rmdir()
    (killed / "ckpt" / "LATEST").unlink()
    (killed / "model.safetensors").unlink()  # as if killed after config.yaml and a few metric lines
    pretrain(PretrainConfig(), resume=killed)
    a, b = load_file(killed / "model.safetensors"), load_file(straight / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)

    def losses(run):
        return [(r["step"], r["loss"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]

    assert losses(killed) == losses(straight)  # the lines logged before the kill were replaced, not repeated


def test_leftovers_of_killed_saves_are_cleaned_and_only_the_last_k_checkpoints_kept(text_file, tmp_path):
    run = pretrain(tiny(text_file, max_iters=6, eval_interval=2, keep_checkpoints=2), out=tmp_path / "k")
    assert [p.name for p in RunFolder(run).checkpoints()] == ["step-0000004", "step-0000006"]
    (run / "ckpt" / ".step-0000008.tmp999999").mkdir()
    (run / "ckpt" / ".step-0000008.tmp999999" / "model.safetensors").write_bytes(b"partial")
    (run / ".model.safetensors.tmp999999").write_bytes(b"partial")
    (run / "ckpt" / "step-0000002").mkdir()  # a superseded checkpoint a killed save left behind
    pretrain(PretrainConfig(), resume=run, overrides={"max_iters": 8})
    assert (
        not (run / "ckpt" / ".step-0000008.tmp999999").exists() and not (run / ".model.safetensors.tmp999999").exists()
    )
    assert [p.name for p in RunFolder(run).checkpoints()] == ["step-0000006", "step-0000008"]


def test_a_damaged_metrics_line_is_dropped_with_a_warning_on_resume(trained, capsys):
    with open(trained / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss": 1.0}\nnot json at all\n{"step": 9, "lo')
    pretrain(PretrainConfig(), resume=trained, overrides={"max_iters": 10})
    assert "metrics.jsonl:6: not a metrics record" in capsys.readouterr().err  # after steps 1, 4, 8 and 3
    steps = [json.loads(line)["step"] for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 10 and steps.count(3) == 1


# ---- damaged checkpoints -----------------------------------------------------------------------------
def test_a_truncated_checkpoint_is_one_line_for_resume_and_sampling(trained, capsys):
    weights = trained / "ckpt" / "step-0000008" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert f"{weights}: not a readable safetensors file" in one_line_error(
        ["pretrain", "--resume", str(trained), "--max-iters", "12", "--no-progress"], capsys
    )
    assert f"{weights}: not a readable safetensors file" in one_line_error(["sample", str(trained)], capsys)


@pytest.mark.parametrize("damage", ["garbage optimizer", "missing trainer"])
def test_a_damaged_training_state_is_one_line_naming_the_file(trained, damage, capsys):
    ckpt = trained / "ckpt" / "step-0000008"
    if damage == "garbage optimizer":
        (ckpt / "optimizer.pt").write_bytes(os.urandom(200))
        expected = f"{ckpt / 'optimizer.pt'}: not a readable checkpoint file"
    else:
        (ckpt / "trainer.pt").unlink()
        expected = f"{ckpt / 'trainer.pt'}: missing"
    assert expected in one_line_error(
        ["pretrain", "--resume", str(trained), "--max-iters", "12", "--no-progress"], capsys
    )


def test_latest_naming_a_missing_checkpoint_stops_resume_but_sampling_uses_the_top_level_weights(trained, capsys):
    (trained / "ckpt" / "LATEST").write_text("step-0000099")
    err = one_line_error(["pretrain", "--resume", str(trained), "--max-iters", "12", "--no-progress"], capsys)
    assert "names step-0000099, which is missing" in err
    assert main(["sample", str(trained), "--max-new-tokens", "5", "--seed", "0", "--device", "cpu"]) == 0
    assert "step-0000099 is missing; using" in capsys.readouterr().err


# ---- the token cache, shared by processes -------------------------------------------------------------
def test_a_cache_entry_another_process_finished_first_counts_as_done(text_file, tmp_path):
    tokenizer = prepare_tokenizer(str(text_file), "char", 0, tmp_path)
    data = prepare_data(str(text_file), tokenizer, 0.1, tmp_path, progress=False)
    _tokenize_to(data.path, str(text_file), tokenizer, 0.1, progress=False)  # the slower process finishes second
    assert [p.name for p in data.path.parent.iterdir()] == [data.path.name]  # its temporary folder is gone
    again = prepare_data(str(text_file), tokenizer, 0.1, tmp_path, progress=False)
    assert (again.train == data.train).all()


def test_partial_cache_entries_of_dead_processes_are_removed(text_file, tmp_path):
    tokenizer = prepare_tokenizer(str(text_file), "char", 0, tmp_path)
    dead = tmp_path / "tokens" / f"0123abcd.tmp{2**22 + 12345}"  # above Linux's default pid_max: never alive
    dead.mkdir(parents=True)
    (dead / "tokens.bin").write_bytes(b"\0" * 1000)
    alive = tmp_path / "tokens" / f"4567abcd.tmp{os.getpid()}"  # a process still tokenizing keeps its entry
    alive.mkdir()
    prepare_data(str(text_file), tokenizer, 0.1, tmp_path, progress=False)
    assert not dead.exists() and alive.exists()
