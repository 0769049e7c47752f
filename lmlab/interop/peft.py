"""LoRA runs outside lmlab: merge one into an ordinary run, or export its base and adapter for transformers + peft.

merge_run writes the run's model with the adapter merged in (W + (alpha / r) B A, lmlab.models.lora.merge_into)
as an ordinary run folder: no base needed afterwards, loaded and fine-tuned like any other run.

export_adapter writes OUT/base, the base run as a transformers folder (lmlab.interop.huggingface.export_hf), and
OUT/adapter, the adapter in PEFT's format under transformers' names, so that
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("OUT/base"), "OUT/adapter")
computes the run's logits with no lmlab installed. lmlab's fused projections map exactly onto transformers'
separate ones: (alpha / r) B A stacked by rows is [B_q; B_k; B_v] A, so q_proj, k_proj and v_proj (and Llama's
gate_proj and up_proj) each get the same A and their own row block of B (huggingface.row_blocks). GPT-2's Conv1D
layers keep the fused c_attn and take A and B as they are (fan_in_fan_out only changes how peft merges them).
"""

import dataclasses
from pathlib import Path

from safetensors.torch import save_file, save_model

from lmlab.config import section_from_dict
from lmlab.errors import LmlabError
from lmlab.interop.huggingface import export_family, export_hf, refuse_nonempty, row_blocks, weight_names, write_json
from lmlab.models import lora
from lmlab.models.config import ModelConfig
from lmlab.runs import RunFolder, load_run


def adapter_run(run: str | Path) -> RunFolder:
    folder = RunFolder(run)
    folder.read_config()
    if not folder.adapter():
        raise LmlabError(f"{folder.path}: not a LoRA run (it holds a whole model; there is no adapter to merge)")
    return folder


def merge_run(run: str | Path, out: str | Path) -> Path:
    """The LoRA run `run` with its adapter merged, as an ordinary run folder `out` (new, or empty); returns out."""
    folder, out = adapter_run(run), Path(out)
    refuse_nonempty(out)
    record = folder.read_config()
    model, tokenizer, _ = load_run(folder.path, "cpu", record["model_kind"])
    kept = {k: v for k, v in record.items() if k not in ("lmlab_format", "stage", "model_kind", "tokenizer_sha256")}
    kept.pop("adapter")
    kept["lora"] = {**kept.get("lora", {}), "lora": False}
    kept["model"] = dataclasses.asdict(model.config)
    kept["merged_from"] = {"run": str(folder.path.resolve()), "weights_sha256": folder.weights_sha256()}
    target = RunFolder(out)
    target.create(kept, record["stage"], record["model_kind"], tokenizer)
    save_model(model, str(out / "model.safetensors"))
    return out


def export_adapter(run: str | Path, out: str | Path) -> Path:
    """OUT/base (the base run, transformers' layout) and OUT/adapter (PEFT's files, transformers' names)."""
    folder, out = adapter_run(run), Path(out)
    refuse_nonempty(out)
    record = folder.read_config()
    if record["model_kind"] != "causal-lm" or record["adapter"].get("base_module"):
        raise LmlabError(
            f"{folder.path}: only a causal LM's adapter exports to transformers (this is a {record['stage']} run)"
        )
    base = folder.base_run()
    tensors, config = lora.read_adapter(folder.weights_file().parent)
    cfg = section_from_dict(ModelConfig, base.read_config()["model"], str(base.path / "config.yaml"))
    model_type = export_family(cfg, folder.path)
    names = weight_names(model_type, cfg)
    ours = {k: v for k, v in tensors.items() if not k.startswith(tuple(record.get("training_only_weights", ())))}
    theirs, targets, full = {}, set(), set()
    for name, t in ours.items():
        if name.endswith((".lora_A.weight", ".lora_B.weight")):
            layer, part = name.rsplit(".", 2)[0], name.rsplit(".", 2)[1]
            hf = [n.removesuffix(".weight") for n in names[f"{layer}.weight"]]
            blocks = [t] * len(hf) if part == "lora_A" else row_blocks(t, len(hf), cfg)
            for module, block in zip(hf, blocks):
                theirs[f"{lora.PREFIX}{module}.{part}.weight"] = block.contiguous().clone()
                targets.add(leaf(module, model_type))
        elif not (name == "lm_head.weight" and cfg.tie_embeddings):  # a tied head goes with the table
            tied = name == "wte.weight" and cfg.tie_embeddings  # a trained tied table is both transformers modules
            for hf_name in names[name] + (["lm_head.weight"] if tied else []):
                theirs[lora.PREFIX + hf_name] = t.contiguous().clone()
                full.add(hf_name.removesuffix(".weight").split(".")[-1])
    base_dir = export_hf(base.path, out / "base")
    (out / "adapter").mkdir()
    save_file(theirs, str(out / "adapter" / lora.ADAPTER_FILE), metadata={"format": "pt"})
    adapter_config = {
        **config,
        "base_model_name_or_path": str(base_dir.resolve()),
        "target_modules": sorted(targets),
        "modules_to_save": sorted(full) or None,
        "fan_in_fan_out": model_type == "gpt2",  # GPT-2's Conv1D stores (in, out)
        "task_type": "CAUSAL_LM",
    }
    write_json(out / "adapter" / lora.ADAPTER_CONFIG, adapter_config)
    return out


def leaf(module: str, model_type: str) -> str:
    """The target_modules name of a transformers module: its last name (q_proj), or GPT-2's last two (attn.c_proj),
    since GPT-2 has a c_proj in both the attention and the MLP."""
    return ".".join(module.split(".")[-2:]) if model_type == "gpt2" else module.split(".")[-1]
