"""The command line: it parses arguments and calls library functions, nothing more.

Every training command shares --out, --preset, --config, --resume and one flag per config field
(--max-iters, --device, --seed, --lr, --n-layer, ...). A user error (LmlabError) is printed as one
line on stderr with exit code 2.
"""

import argparse
import dataclasses
import sys

from lmlab.config import field_type
from lmlab.errors import LmlabError


def add_config_flags(parser: argparse.ArgumentParser, config_cls):
    """One flag per field of the config class, grouped by section, with its help and this class's default."""
    defaults = config_cls()
    for section, section_type in config_cls.section_types().items():
        group = parser.add_argument_group(f"{section} config")
        for f in dataclasses.fields(section_type):
            if f.metadata.get("derived"):
                continue
            flag = "--" + f.name.replace("_", "-")
            help_text = f"{f.metadata.get('help', '')} (default: {getattr(getattr(defaults, section), f.name)!r})"
            if field_type(f) is bool:
                group.add_argument(
                    flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text
                )
            else:
                typ = field_type(f)
                group.add_argument(flag, dest=f.name, type=typ, default=None, metavar=f.name.upper(), help=help_text)


def add_training_command(sub, name: str, help: str, config_cls, train_fn, default_preset: str | None = None):
    """A training command: --out, --preset, --config, --resume and one flag per field of its config class."""
    p = sub.add_parser(name, help=help)
    p.add_argument("--out", help=f"run folder (default: runs/{config_cls.STAGE}-<timestamp>)")
    presets = ", ".join(config_cls.PRESETS)
    p.add_argument("--preset", default=default_preset, help=f"named preset: {presets} (default: {default_preset})")
    p.add_argument("--config", help="a YAML file of config keys (flat or in sections)")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped run exactly where it left off")
    add_config_flags(p, config_cls)
    p.set_defaults(fn=cmd_train, config_cls=config_cls, train_fn=train_fn)
    return p


def config_overrides(args, config_cls) -> dict:
    return {k: v for k, v in vars(args).items() if k in config_cls.fields() and v is not None}


# ---- commands -----------------------------------------------------------------------------
def cmd_train(args):
    overrides = config_overrides(args, args.config_cls)
    if any(k.startswith("lora_") for k in overrides) and "lora" not in overrides:
        overrides["lora"] = True  # --lora-rank 8 means LoRA
    config = args.config_cls.build(args.preset, args.config, overrides)
    path = args.train_fn(config, out=args.out, resume=args.resume, overrides=overrides)
    print(f"run folder: {path}")
    if (path / "eval.json").is_file():
        print((path / "eval.json").read_text())


def cmd_sample(args):
    from lmlab.inference.generate import sample_text

    for piece in sample_text(
        args.run,
        args.prompt,
        args.max_new_tokens,
        args.temperature,
        args.top_k,
        args.top_p,
        args.seed,
        args.device,
        args.num_samples,
        args.compile,
    ):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


def cmd_eval(args):
    from lmlab.eval.perplexity import evaluate_run

    if args.judge:
        return cmd_eval_judge(args)
    if args.tasks:
        return cmd_eval_tasks(args)
    for run in args.run:
        if len(args.run) > 1:
            print(run)
        metrics = evaluate_run(run, data=args.data, max_tokens=args.max_tokens, device=args.device)
        for k, v in metrics.items():
            print(f"{k:>14}: {v:.4f}" if isinstance(v, float) else f"{k:>14}: {v}")


def cmd_eval_tasks(args):
    from lmlab.eval import replies
    from lmlab.eval.task_accuracy import task_accuracy

    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    figures = replies.figures_asked(names)
    names = [name for name in names if name != replies.ALL and name not in figures]
    if figures and args.split == "dev":
        raise LmlabError("the reply figures have no dev split; measure them with --split test")
    results = {run: task_accuracy(run, names, args.n, args.device, args.split) if names else {} for run in args.run}
    for run in args.run if figures else ():
        results[run].update(replies.measure_run(run, args.n, args.device))
    print(f"{'task':<22}" + "".join(f"{run[-24:]:>26}" for run in args.run))
    for name in names:
        print(f"{name:<22}" + "".join(f"{results[run][name]:>26.1%}" for run in args.run))
    for name in figures:
        print(f"{name:<22}" + "".join(f"{replies.format_figure(name, results[run][name]):>26}" for run in args.run))


def cmd_eval_judge(args):
    from lmlab.eval.preference import evaluate_preference

    for run in args.run:
        result = evaluate_preference(
            run, args.judge, args.against, args.n, seed=args.seed, device=args.device, split=args.split,
            fixed_length=args.fixed_length,
        )  # fmt: skip
        fixed = ", fixed length (no stop token)" if args.fixed_length else ""
        print(f"{run}: judge {args.judge}, {result['prompts']} {args.split} prompts, temperature 1{fixed}")
        print(f"{'reward':>14}: {result['reward']:.4f} +- {result['reward_sem']:.4f}")
        for key in [k for k in result if k.startswith("reward_") and k != "reward_sem"]:
            print(f"{key:>14}: {result[key]:.4f}")
        if "win_rate" in result:
            print(f"{'win rate':>14}: {result['win_rate']:.1%} against {result['against']} "
                  f"(its reward {result['against_reward']:.4f})")  # fmt: skip
        print(f"{'length':>14}: mean {result['length_mean']:.1f} tokens, median {result['length_median']:g}, "
              f"{result['length_at_limit']:.0%} reached the limit")  # fmt: skip
        if "kl" in result:
            print(f"{'KL to ref':>14}: {result['kl']:.3f} nats per response, {result['kl_per_token']:.4f} per token")
        whose = "its reference's" if "kl" in result else "its own"
        print(f"{'fluency':>14}: {result['ref_logp_per_token']:.3f} nats per token ({whose} log-likelihood of it)")


def cmd_pairs(args):
    from lmlab.stages.pairs import PairsConfig, build_pairs

    config = PairsConfig.build(args.preset, args.config, config_overrides(args, PairsConfig))
    out = build_pairs(config, out=args.out)
    print(f"pairs: {out / 'pairs.jsonl'}")
    print((out / "info.json").read_text())


def cmd_chat(args):
    from lmlab.inference.chat import chat

    chat(
        args.run,
        system=args.system,
        temperature=args.temperature,
        top_k=args.top_k,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        device=args.device,
    )


def cmd_serve(args):
    import os

    from lmlab.serve.app import serve

    api_key = args.api_key or os.environ.get("LMLAB_API_KEY") or None
    serve(args.run, args.host, args.port, api_key, args.model_name, args.max_batch, args.device, args.dtype,
          args.threads)  # fmt: skip


def cmd_export(args):
    if args.format == "gguf":
        from lmlab.interop.gguf import export_gguf

        print(f"GGUF file: {export_gguf(args.run, args.out, args.dtype)}")
        return
    if args.adapter:
        from lmlab.interop.peft import export_adapter

        out = export_adapter(args.run, args.out)
        print(f"transformers base folder: {out / 'base'}\nPEFT adapter folder: {out / 'adapter'}")
        return
    from lmlab.interop.huggingface import export_hf

    print(f"transformers model folder: {export_hf(args.run, args.out)}")


def cmd_merge(args):
    from lmlab.interop.peft import merge_run

    print(f"run folder: {merge_run(args.run, args.out)}")


def cmd_import(args):
    from lmlab.interop.huggingface import import_hf

    print(f"run folder: {import_hf(args.hf_dir, args.out)}")


def cmd_data_list(args):
    from lmlab.data.registry import list_datasets

    for name, kind, description in list_datasets():
        print(f"{name:<14} {kind:<12} {description}")


def cmd_run(args):
    from lmlab.experiments.pipeline import run_pipeline

    path = run_pipeline(
        out=args.out,
        quick=args.quick,
        device=args.device,
        progress=not args.no_progress,
        seed=args.seed,
        scale=args.scale,
        processes=args.processes,
        data=args.data,
        tools=args.tools,
    )
    print(f"report: {path / 'report.md'}")


def cmd_translate(args):
    from lmlab.inference.beam_search import translate_text

    print(translate_text(args.run, args.text, beam=args.beam, device=args.device, plot=args.plot_attention))
    if args.plot_attention:
        print(f"attention heatmap: {args.plot_attention}")


def cmd_compare(args):
    from lmlab.experiments.compare import CompareConfig, run_compare

    config = CompareConfig.build(
        "quick" if args.quick else args.preset, args.config, config_overrides(args, CompareConfig)
    )
    path = run_compare(config, out=args.out, device=args.device)
    print(f"report: {path / 'report.md'}")


def cmd_frontier(args):
    from lmlab.experiments.frontier import FrontierConfig, run_frontier

    config = FrontierConfig.build(
        "quick" if args.quick else args.preset, args.config, config_overrides(args, FrontierConfig)
    )
    if not config.frontier.init:
        raise LmlabError("frontier needs --init RUN (the SFT run)")
    path = run_frontier(config, out=args.out, device=args.device, progress=not args.no_progress)
    print(f"report: {path / 'frontier.md'}")
    print((path / "frontier.md").read_text())


def cmd_inspect(args):
    from lmlab.inspect import inspect_attention, inspect_context, inspect_experts, inspect_lens
    from lmlab.stages.recipe import default_out

    out = args.out or default_out("inspect")
    if args.inspect_command == "attention":
        result = inspect_attention(args.run, args.text, out, args.device)
    elif args.inspect_command == "context":
        result = inspect_context(args.run, args.word, args.sentences, out, args.device, args.pool)
    elif args.inspect_command == "experts":
        result = inspect_experts(args.run, args.text, out, args.device)
    else:
        result = inspect_lens(args.run, args.text, out, args.device, args.top_k)
    print("\n".join(result.report()))
    print(f"\nplots and tables: {out}/index.md")


def arg(*flags, **kw) -> tuple:
    """One argparse argument of a command in COMMANDS: its flags and add_argument's keywords."""
    return flags, kw


RUN, DEVICE = arg("run", metavar="RUN"), arg("--device", default="auto")
NO_PROGRESS = arg("--no-progress", action="store_true", help="no progress bars")


def out_arg(what: str, folder: str) -> tuple:
    return arg("--out", help=f"{what} (default: runs/{folder}-<timestamp>)")


# --preset and --config of a command whose settings are a config class (its fields become flags too)
CONFIG_ARGS = [arg("--preset", help="named preset: {presets}"), arg("--config", help="a YAML file of its settings")]


# Training commands: name -> (help, "module:ConfigClass", "module:train_function", default preset). Each gets
# --out, --preset, --config, --resume and one flag per config field (add_training_command).
TRAINING = {
    "pretrain": ("pre-train a language model on a corpus (next-token prediction)",
                 "lmlab.stages.pretrain:PretrainConfig", "lmlab.stages.pretrain:pretrain", "cpu-small"),
    "sft": ("supervised fine-tuning of a causal-LM run on chat data",
            "lmlab.stages.sft:SFTConfig", "lmlab.stages.sft:sft", None),
    "reward": ("train a reward model (Bradley-Terry) on preference pairs",
               "lmlab.stages.reward:RewardConfig", "lmlab.stages.reward:reward", None),
    "dpo": ("train a policy on preference pairs: DPO, cDPO, robust, hinge, IPO, SimPO, ORPO",
            "lmlab.stages.dpo:DPOConfig", "lmlab.stages.dpo:dpo", None),
    "ppo": ("RLHF: train a policy with PPO against a reward model or a judge (--reward)",
            "lmlab.stages.ppo:PPOConfig", "lmlab.stages.ppo:ppo", None),
    "grpo": ("train a policy with GRPO, RLOO, Dr. GRPO or DAPO on verifiable rewards (--reward tasks)",
             "lmlab.stages.grpo:GRPOConfig", "lmlab.stages.grpo:grpo", None),
    "distill": ("distill a teacher run's next-token distributions into a student (forward/reverse KL, GKD's JSD)",
                "lmlab.stages.distill:DistillConfig", "lmlab.stages.distill:distill", "half"),
    "translate-train": ("train an encoder-decoder translator on KJV -> WEB verse pairs",
                        "lmlab.stages.translate:TranslateConfig", "lmlab.stages.translate:translate_train", None),
}  # fmt: skip

# Every other command: name -> (help, its function, its config class or None, its arguments), in `--help`'s order.
COMMANDS = {
    "run": ("the whole default pipeline on the built-in corpus, with a report", cmd_run, None, [
        out_arg("run folder", "run"),
        arg("--quick", action="store_true", help="a few minutes instead of the full defaults"),
        arg("--scale", choices=("cpu", "gpu"), default="cpu",
            help="gpu: GPU-sized settings (a GPT-2-small-sized model, 1,024-token context, bf16, compile), each "
                 "training stage on every GPU (DDP, or FSDP for a model too large for one)"),
        arg("--data", default=None, help="the pre-training text: a file, a folder or a built-in corpus (lmlab data "
            "list); default: the built-in default corpus"),
        arg("--processes", type=int, default=None,
            help="with --scale gpu: processes per training stage (default: the CUDA devices)"),
        arg("--tools", action="store_true", help="SFT answers the arithmetic drills through the calculator tool "
            "(lmlab sft --tools), and every later stage and evaluation runs it when the model calls"),
        DEVICE,
        arg("--seed", type=int, default=None,
            help="every stage's training seed (default: 1337); evaluations stay fixed"),
        NO_PROGRESS]),
    "sample": ("sample text from a trained run, streaming tokens", cmd_sample, None, [
        RUN, arg("--prompt", default=""), arg("--max-new-tokens", type=int, default=200),
        arg("--temperature", type=float, default=0.8), arg("--top-k", type=int, default=None),
        arg("--top-p", type=float, default=None), arg("--seed", type=int, default=None),
        arg("--num-samples", type=int, default=1), DEVICE,
        arg("--compile", action="store_true", help="torch.compile the KV-cache decoding (dynamic shapes)")]),
    "pairs": ("preference pairs from an SFT run's samples, labelled by a judge (JSONL)", cmd_pairs,
              "lmlab.stages.pairs:PairsConfig", [
        arg("--out", help="folder for pairs.jsonl and info.json (default: pairs-<task>)"),
        *CONFIG_ARGS]),
    "frontier": ("the DPO paper's reward/KL frontier on controlled sentiment: PPO, PPO-GT, DPO, best-of-N",
                 cmd_frontier, "lmlab.experiments.frontier:FrontierConfig", [
        out_arg("report folder", "frontier"),
        arg("--quick", action="store_true", help="a few points on small runs (the preset quick)"),
        *CONFIG_ARGS, DEVICE, NO_PROGRESS]),
    "chat": ("chat with a run, streaming replies (/reset, /system TEXT, /temperature X, /quit)", cmd_chat, None, [
        RUN, arg("--system", default="", help="system prompt"), arg("--temperature", type=float, default=0.7),
        arg("--top-k", type=int, default=50), arg("--max-new-tokens", type=int, default=128),
        arg("--seed", type=int, default=None), DEVICE]),
    "export": ("write a GPT run (GPT-2 or Llama) as a transformers folder or a GGUF file", cmd_export, None, [
        RUN, arg("out", metavar="OUT", help="the folder (hf: new, or empty) or file (gguf: new) to write"),
        arg("--format", default="hf", choices=["hf", "gguf"],
            help="hf: transformers' from_pretrained folder; gguf: one file for llama.cpp (pip install gguf)"),
        arg("--dtype", default="float32", choices=["float32", "float16"], help="gguf: the matrices' precision"),
        arg("--adapter", action="store_true",
            help="hf, a LoRA run: OUT/base (its base) and OUT/adapter (PEFT's files) instead of the merged model")]),
    "merge": ("a LoRA run with its adapter merged in, as an ordinary run folder", cmd_merge, None, [
        RUN, arg("--out", required=True, help="the run folder to write (new, or empty)")]),
    "import": ("a local transformers GPT-2 or Llama folder (safetensors) as an lmlab run", cmd_import, None, [
        arg("hf_dir", metavar="HF_DIR"), arg("--out", required=True, help="the run folder to write (new, or empty)")]),
    "serve": ("an OpenAI-compatible API (/v1/chat/completions, /v1/completions) and a chat page", cmd_serve, None, [
        RUN, arg("--host", default="127.0.0.1", help="address to listen on (default: this machine only)"),
        arg("--port", type=int, default=8000),
        arg("--api-key", help="require 'Authorization: Bearer KEY' on /v1 (default: $LMLAB_API_KEY, else none)"),
        arg("--model-name", help="the model id clients name (default: the run folder's name)"),
        arg("--max-batch", type=int, default=8, help="requests decoded together (KV-cache slots)"), DEVICE,
        arg("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
            help="auto: bf16 where the hardware multiplies it natively (on a CPU, for batches), else float32"),
        arg("--threads", type=int, default=0, help="CPU threads for the model; 0: all cores but one")]),
    "eval": ("validation loss, perplexity and bits per byte of runs; --tasks: task accuracy and reply figures",
             cmd_eval, None, [
        arg("run", metavar="RUN", nargs="+", help="one or more runs, shown side by side"),
        arg("--tasks", help="comma-separated built-in tasks (e.g. add_2d,add_3d,reverse_word,count_letter), and "
            "'replies': reply loss on held-out small talk and how-to answers, and the real-word rate of replies to "
            "held-out openers"),
        arg("--n", type=int, default=200, help="held-out instances per task (--judge: held-out prompts)"),
        arg("--data", help="evaluate on this corpus instead of the run's own validation split"),
        arg("--max-tokens", type=int, default=0, help="evaluate at most this many tokens (0: all)"),
        arg("--judge", help="sentiment | tasks | safety | a mixture (sentiment:4+safety) | REWARD_RUN: mean true "
            "reward, win rate and KL on held-out prompts"),
        arg("--against", metavar="RUN", help="--judge: the run to compute the win rate against (default: the "
            "reference)"),
        arg("--seed", type=int, default=0, help="--judge: sampling seed"),
        arg("--fixed-length", action="store_true",
            help="--judge: every response exactly 24 tokens (the stop token never drawn, for the policy and the run "
                 "it is compared with), so the KL does not depend on how long each says"),
        arg("--split", default="test", choices=("dev", "test"),
            help="--judge and --tasks: held-out test prompts, or dev prompts for tuning"), DEVICE]),
    "translate": ("translate KJV-style English to modern English with a translate-train run", cmd_translate, None, [
        RUN, arg("text"), arg("--beam", type=int, default=1, help="beam width (1: greedy search)"),
        arg("--plot-attention", metavar="PNG", help="save the attention heatmap (rnn-attention runs)"), DEVICE]),
    "compare": ("the beyond-RNNs experiment: RNN/LSTM/GRU vs GPT on the budget crossover, associative recall, "
                "gradients, translation by length, a word in context; a report", cmd_compare,
                "lmlab.experiments.compare:CompareConfig", [
        out_arg("report folder", "compare"),
        arg("--quick", action="store_true", help="a smoke test in under 4 minutes instead of about 30 (the preset "
            "quick); its report draws no conclusions"),
        *CONFIG_ARGS, DEVICE,
        arg("--from", dest="senses_run", metavar="RUN", help="a pre-trained run (e.g. lmlab run's RUN/pretrain) that "
            "section 5's sense test reads besides the section's own models")]),
}  # fmt: skip

# `lmlab inspect WHAT`: name -> (help, its own arguments); each also takes RUN, --out and --device.
INSPECT = {
    "attention": ("each layer's attention weights over a text as heatmaps, and a summary of each head (GPT runs)", [
        arg("text", help="the text (longer than the model's context: its last block is kept)")]),
    "context": ("a word's hidden state in two or more sentences: cosine similarity at the embedding and each layer", [
        arg("--word", required=True, help="the word to follow (whole word, case-sensitive)"),
        arg("sentences", nargs="+", metavar="SENTENCE", help="two or more sentences holding the word"),
        arg("--pool", default="last", choices=["last", "mean"],
            help="a word of several tokens: its last token (default), or the mean of its tokens")]),
    "lens": ("the logit lens: each layer's top next-token predictions over a text (GPT runs)", [
        arg("text", help="the text (longer than the model's context: its last block is kept)"),
        arg("--top-k", type=int, default=3, help="predictions shown per layer and position")]),
    "experts": ("which expert each token goes to in every mixture-of-experts layer, as a picture, and their load", [
        arg("text", help="the text (longer than the model's context: its last block is kept)")]),
}  # fmt: skip

# The order `lmlab --help` lists the commands in (the story's order within each stage).
ORDER = ("run", "pretrain", "sample", "sft", "pairs", "reward", "dpo", "ppo", "grpo", "distill", "frontier", "chat",
         "export", "import", "merge", "serve", "eval", "translate-train", "translate", "compare", "inspect",
         "data")  # fmt: skip


def load(spec: str):
    """'module:name' -> the object (the commands' config classes and functions load only when the parser is built)."""
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def build_parser() -> argparse.ArgumentParser:
    """The parser, from the tables above: TRAINING, COMMANDS, INSPECT, and `data list`."""
    from lmlab import __version__

    parser = argparse.ArgumentParser(
        prog="lmlab", description="Build a language model end to end: pre-training, fine-tuning, preferences."
    )
    parser.add_argument("--version", action="version", version=f"lmlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in ORDER:
        if name in TRAINING:
            help_text, config, train_fn, preset = TRAINING[name]
            p = add_training_command(sub, name, help_text, load(config), load(train_fn), preset)
            if name == "pretrain":
                p.add_argument("--model", dest="arch", default=None, help="alias of --arch")
        elif name in COMMANDS:
            help_text, fn, config, args = COMMANDS[name]
            p = sub.add_parser(name, help=help_text)
            config_cls = load(config) if config else None
            for flags, kw in args:
                if flags == ("--preset",):
                    kw = {**kw, "help": kw["help"].format(presets=", ".join(config_cls.PRESETS))}
                p.add_argument(*flags, **kw)
            if config_cls:
                add_config_flags(p, config_cls)
            p.set_defaults(fn=fn)
        elif name == "inspect":
            help_text = "look inside a causal-LM run: attention maps, a word in context, the logit lens"
            p = sub.add_parser(name, help=help_text)
            what = p.add_subparsers(dest="inspect_command", metavar="WHAT", required=True)
            for what_name, (help_text, args) in INSPECT.items():
                q = what.add_parser(what_name, help=help_text)
                q.add_argument("run", metavar="RUN")
                for flags, kw in args:
                    q.add_argument(*flags, **kw)
                q.add_argument("--out", help="folder for the PNGs and index.md (default: runs/inspect-<timestamp>)")
                q.add_argument("--device", default="auto")
                q.set_defaults(fn=cmd_inspect)
        else:  # data
            p = sub.add_parser("data", help="built-in datasets")
            actions = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
            actions.add_parser("list", help="list the built-in corpora and datasets").set_defaults(fn=cmd_data_list)
    return parser


COMMAND_GROUPS = {  # what `lmlab` alone lists, in the story's order (tests check that every command is listed)
    "the whole story": ("run",),
    "stage 1, pre-training": ("pretrain", "sample", "eval"),
    "stage 2, fine-tuning and chat": ("sft", "merge", "distill", "chat"),
    "stage 3, preferences and reinforcement learning": ("pairs", "reward", "dpo", "ppo", "grpo", "frontier"),
    "before the Transformer": ("compare", "translate-train", "translate"),
    "inside the model, serving and interop": ("inspect", "serve", "export", "import", "data"),
}


def command_list(parser: argparse.ArgumentParser) -> str:
    """The commands, one line each with their help, grouped by stage (as `git` alone lists its commands)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    width = max(map(len, helps))
    lines = [parser.format_usage().strip(), "", parser.description, ""]
    for group, names in COMMAND_GROUPS.items():
        lines += [f"{group}:", *(f"   {name:<{width}}  {helps[name]}" for name in names), ""]
    lines.append("'lmlab COMMAND --help' shows a command's options; docs/index.md has every page.")
    return "\n".join(lines)


def refuse_lora(argv: list[str]):
    """--lora-* on a stage that trains a new model is one line, not argparse's usage and error."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in TRAINING and any(a.startswith("--lora") for a in argv):
        if "lora" not in load(TRAINING[command][1]).section_types():
            fine_tuning = ", ".join(name for name, spec in TRAINING.items() if "lora" in load(spec[1]).section_types())
            raise LmlabError(
                f"{command} trains every weight of a new model; LoRA (--lora*) adapts a trained run: {fine_tuning}"
            )


def main(argv=None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        print(command_list(parser))
        return 0
    try:
        refuse_lora(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(argv)
        args.fn(args)
    except LmlabError as e:
        print(f"lmlab: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
