import json
import os
import subprocess
import sys


def losses(run):
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_gloo_processes_match_one_process_with_twice_the_accumulation(text_file, tmp_path):
    common = ["--preset", "tiny", "--data", str(text_file), "--max-iters", "6", "--log-interval", "1", "--dtype", "float32", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "lmlab", "pretrain"]
    subprocess.run(ddp + common + ["--grad-accum", "1", "--out", str(tmp_path / "ddp")], check=True, env=env, capture_output=True)
    subprocess.run([sys.executable, "-m", "lmlab", "pretrain"] + common + ["--grad-accum", "2", "--out", str(tmp_path / "one")], check=True, env=env, capture_output=True)
    a, b = losses(tmp_path / "ddp"), losses(tmp_path / "one")
    assert len(a) == len(b) == 6
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5
