"""The command line: it parses arguments and calls library functions, nothing more.

Every training command shares --out, --preset, --config, --resume and one flag per config field
(--max-iters, --device, --seed, --lr, --n-layer, ...). A user error (LmlabError) is printed as one
line on stderr with exit code 2.
"""

import argparse
import dataclasses
import sys

from lmlab.config import SECTIONS, build_config
from lmlab.errors import LmlabError

LM_STAGES = ("pretrain", "sft")


def add_config_flags(parser: argparse.ArgumentParser):
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} config")
        for f in dataclasses.fields(cls):
            if f.metadata.get("derived"):
                continue
            flag = "--" + f.name.replace("_", "-")
            default = f.default
            help_text = f"{f.metadata.get('help', '')} (default: {default!r})".strip()
            if f.type in (bool, "bool"):
                group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            else:
                typ = {"int": int, "float": float, "str": str}.get(f.type, f.type) if isinstance(f.type, str) else f.type
                group.add_argument(flag, dest=f.name, type=typ, default=None, metavar=f.name.upper(), help=help_text)


def add_training_flags(parser: argparse.ArgumentParser, default_preset: str | None = None):
    parser.add_argument("--out", help="run folder (default: runs/<stage>-<timestamp>)")
    parser.add_argument("--preset", default=default_preset, help=f"named preset: tiny, cpu-small, shakespeare-char, gpt2-124m (default: {default_preset})")
    parser.add_argument("--config", help="a YAML file of config keys (flat or in model/train/data sections)")
    parser.add_argument("--resume", metavar="RUN", help="continue a stopped run exactly where it left off")
    add_config_flags(parser)


def config_overrides(args) -> dict:
    names = {f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def training_config(args):
    overrides = config_overrides(args)
    return build_config(args.preset, args.config, overrides), overrides


# ---- commands -----------------------------------------------------------------------------
def cmd_pretrain(args):
    from lmlab.stages.pretrain import pretrain

    config, overrides = training_config(args)
    path = pretrain(config, out=args.out, resume=args.resume, overrides=overrides)
    print(f"run folder: {path}")


def cmd_sample(args):
    from lmlab.generate import sample_text

    for piece in sample_text(args.run, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.seed, args.device, args.num_samples):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


def cmd_eval(args):
    from lmlab.evaluate import evaluate_run

    metrics = evaluate_run(args.run, data=args.data, max_tokens=args.max_tokens, device=args.device)
    for k, v in metrics.items():
        print(f"{k:>14}: {v:.4f}" if isinstance(v, float) else f"{k:>14}: {v}")


def cmd_data_list(args):
    from lmlab.data.registry import list_datasets

    for name, kind, description in list_datasets():
        print(f"{name:<14} {kind:<12} {description}")


def cmd_run(args):
    from lmlab.pipeline import run_pipeline

    path = run_pipeline(out=args.out, quick=args.quick, device=args.device, progress=not args.no_progress)
    print(f"report: {path / 'report.md'}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmlab", description="Build a language model end to end: pre-training, fine-tuning, preferences.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="the whole default pipeline on the built-in corpus, with a report")
    p.add_argument("--out", help="run folder (default: runs/run-<timestamp>)")
    p.add_argument("--quick", action="store_true", help="a few minutes instead of the full defaults")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("pretrain", help="pre-train a language model on a corpus (next-token prediction)")
    add_training_flags(p, default_preset="cpu-small")
    p.set_defaults(fn=cmd_pretrain)

    p = sub.add_parser("sample", help="sample text from a trained run, streaming tokens")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--prompt", default="")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.set_defaults(fn=cmd_sample)

    p = sub.add_parser("eval", help="validation loss, perplexity and bits per byte of a run")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--data", help="evaluate on this corpus instead of the run's own validation split")
    p.add_argument("--max-tokens", type=int, default=0, help="evaluate at most this many tokens (0: all)")
    p.add_argument("--device", default="auto")
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("data", help="built-in datasets")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    data_sub.add_parser("list", help="list the built-in corpora and datasets").set_defaults(fn=cmd_data_list)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except LmlabError as e:
        print(f"lmlab: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
