"""`lmlab run --scale gpu`: its presets, its plan (processes, DDP or FSDP, the H100 estimate) and its launch of a
training stage under torchrun, which the CPU runs here with gloo (no GPU in CI)."""

import json

import pytest
import yaml

from lmlab.errors import LmlabError
from lmlab.experiments.scale import Plan, choose_parallel, count_parameters, estimate, launch, plan
from lmlab.stages.dpo import DPOConfig
from lmlab.stages.grpo import GRPOConfig
from lmlab.stages.pairs import PairsConfig
from lmlab.stages.ppo import PPOConfig
from lmlab.stages.pretrain import PretrainConfig, pretrain
from lmlab.stages.reward import RewardConfig
from lmlab.stages.sft import SFTConfig


def test_the_gpu_preset_is_a_gpt2_small_sized_model_with_a_1024_token_context():
    config = PretrainConfig.build("gpu")
    m, t = config.model, config.train
    assert (m.n_layer, m.n_head, m.n_embd, m.block_size) == (12, 12, 768, 1024)
    assert t.compile and t.dtype == "auto"  # bf16 on any GPU that has it
    assert 90e6 < count_parameters(m, config.data.bpe_vocab_size) < 130e6  # GPT-2 small: 124M
    for stage in (SFTConfig, RewardConfig, DPOConfig, PPOConfig, GRPOConfig, PairsConfig):
        assert "gpu" in stage.PRESETS
        stage.build("gpu")  # every field of the preset exists in the stage


def test_ddp_while_the_training_state_fits_a_quarter_of_a_device_else_fsdp():
    h100 = 80 * 2**30
    assert choose_parallel(124_000_000, h100) == "ddp"  # 2 GB of weights, gradients and AdamW
    assert choose_parallel(1_500_000_000, h100) == "fsdp"  # 24 GB: more than a quarter
    assert choose_parallel(7_000_000_000, h100) == "fsdp"


def test_the_h100_estimate_of_gpt2_small_matches_its_flops_by_hand():
    # 6 FLOPs per parameter and token plus the attention's 6 * n_layer * context * n_embd: 6 * 124e6 + 6 * 12 * 1024
    # * 768 = 800.6 MFLOPs a token; 1e9 tokens at 40% of 989 TFLOP/s take 2,024 s.
    minutes = estimate({"pretrain": dict(parameters=124_000_000, n_layer=12, n_embd=768, context=1024, tokens=1e9)})
    assert minutes["pretrain"] == pytest.approx(2024 / 60, rel=1e-3)


def test_the_plan_on_a_cpu_says_its_processes_and_estimate():
    p = plan(PretrainConfig.build("gpu"), processes=2, device="cpu")
    assert (p.processes, p.parallel) == (2, "ddp")  # no device memory to compare with: the config's own
    assert "2 processes, ddp" in p.summary and "33M tokens" in p.summary and "H100" in p.summary
    with pytest.raises(LmlabError, match="--processes -1"):
        plan(PretrainConfig.build("gpu"), processes=-1, device="cpu")


def test_launch_trains_a_stage_on_two_processes_from_its_written_config(text_file, tmp_path, monkeypatch):
    """The multi-GPU path of `lmlab run --scale gpu`, on 2 CPU processes: the stage's whole config goes to
    RUN/configs/STAGE.yaml and torchrun trains it with the plan's parallelism."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = PretrainConfig.build("tiny", overrides=dict(data=str(text_file), dtype="float32", progress=False,
                                                         max_iters=4, log_interval=1))  # fmt: skip
    run = launch("pretrain", pretrain, config, tmp_path / "pretrain", Plan(2, "fsdp", ""), {})
    record = yaml.safe_load((run / "config.yaml").read_text())
    assert record["world_size"] == 2 and record["train"]["parallel"] == "fsdp"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4
    assert sorted(p.name for p in (run / "ckpt" / "step-0000004" / "optimizer").glob("*.distcp")) == [
        "__0_0.distcp", "__1_0.distcp"]  # fmt: skip
    written = yaml.safe_load((tmp_path / "configs" / "pretrain.yaml").read_text())
    assert written["train"]["max_iters"] == 4 and written["data"]["data"] == str(text_file)
    # one process: the stage function itself, in this process
    alone = launch("pretrain", pretrain, config, tmp_path / "alone", Plan(1, "ddp", ""), {})
    assert json.loads((alone / "metrics.jsonl").read_text().splitlines()[0])["step"] == 1


def test_a_failed_launch_names_the_stage_and_its_config(tmp_path):
    config = PretrainConfig.build("tiny", overrides=dict(data=str(tmp_path / "missing.txt"), progress=False))
    with pytest.raises(LmlabError, match=r"pretrain on 2 processes failed .*configs/pretrain.yaml"):
        launch("pretrain", pretrain, config, tmp_path / "pretrain", Plan(2, "ddp", ""), {})


def test_lmlab_run_at_gpu_scale_on_two_cpu_processes_with_tiny_presets(tmp_path, monkeypatch, text_file):
    """The whole `lmlab run --scale gpu` path (every training stage launched under torchrun with its written config,
    the rest in this process) with each stage's gpu preset shrunk to the tests' tiny one: about 2 minutes on 2 CPU
    cores, the CPU smoke test of the GPU path."""
    from lmlab.experiments.pipeline import run_pipeline

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tiny = {**PretrainConfig.PRESETS["tiny"], "block_size": 256, "max_iters": 30, "compile": False, "dropout": 0.0}
    monkeypatch.setitem(PretrainConfig.PRESETS, "gpu", tiny)
    for stage in (SFTConfig, RewardConfig, DPOConfig, PPOConfig, GRPOConfig, PairsConfig):
        monkeypatch.setitem(stage.PRESETS, "gpu", stage.PRESETS["tiny"])
    root = run_pipeline(tmp_path / "run", device="cpu", progress=False, scale="gpu", processes=2,
                        data=str(text_file))  # fmt: skip
    for stage in ("pretrain", "sft", "reward", "dpo", "ppo", "grpo"):
        record = yaml.safe_load((root / stage / "config.yaml").read_text())
        assert record["world_size"] == 2, stage
        assert (root / "configs" / f"{stage}.yaml").is_file()
    results = json.loads((root / "results.json").read_text())
    assert results["scale"]["processes"] == 2
    assert "2 processes" in (root / "report.md").read_text()
