"""`gateway train` and `gateway evaluate`: fit the routing model and measure it before use.

Both print one JSON object on stdout (for scripts) and one sentence on
stderr (for people). Exit codes: 0 done; 1 `evaluate --fail-under` not
reached, or the database cannot be read; 2 bad input, with the file and
line, or the reason, named.
File paths given on the command line are read from the current directory,
like any command's; only `[router.model].path` in the configuration file is
read from the configuration file's directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.commands import CommandRunner
from gateway.config import Config, Secrets
from router.errors import RouterConfigError, TrainingError

if TYPE_CHECKING:
    from router.examples import LabelledExample

EXIT_OK = 0
EXIT_BELOW_FLOOR = 1
EXIT_UNAVAILABLE = 1
EXIT_BAD_INPUT = 2
CONFIRMED_HELP = (
    "the tickets in the gateway's database whose category a helpdesk confirmed: their classification has "
    '"confirmed_category" ("queue/category", or a category read with the ticket\'s queue) or '
    '"confirmed": true (the stored queue and category are right); suppressed tickets are skipped'
)


class BadInput(Exception):
    """The command cannot run on what it was given; the message says why."""


class Unavailable(Exception):
    """The gateway's database cannot be read (exit 1: retrying may help, unlike bad input)."""


def register(sub: argparse._SubParsersAction) -> dict[str, CommandRunner]:  # type: ignore[type-arg]
    """Add the sub-commands to the parser; return their runners by command name."""
    train = sub.add_parser(
        "train", help="fit the routing model from labelled examples",
        description="Fit the routing model (TF-IDF word and character n-grams, logistic regression) and write it "
                    "where [router.model] path can load it. Labels are 'queue' or 'queue/category'.",
    )
    _add_source(train)
    train.add_argument("--out", metavar="MODEL",
                       help="model file to write (default: [router.model] path of the configuration)")
    train.add_argument("--name", help="the model's name (default: the file name without its extension)")
    evaluate = sub.add_parser(
        "evaluate", help="accuracy and macro-F1 of a model trained on part of the examples",
        description="Train on a stratified share of the examples and score on the rest, which the model never "
                    "saw. Nothing is written.",
    )
    _add_source(evaluate)
    evaluate.add_argument("--test-size", type=float, default=0.25, help="held-out share, 0-1 (default 0.25)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    evaluate.add_argument("--fail-under", type=float, metavar="MACRO_F1",
                          help="exit 1 when macro-F1 is below this (for CI)")
    return {"train": run_train, "evaluate": run_evaluate}


def _add_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--examples", type=Path, metavar="FILE",
                        help=".csv (header with text,label and optional subject,channel,portal_category) or "
                             ".jsonl with the same keys")
    source.add_argument("--from-tickets", action="store_true", help=CONFIRMED_HELP)


async def run_train(args: argparse.Namespace, config: Config, _secrets: Secrets) -> int:
    try:
        out = _out_path(args, config)
        examples = await _examples(args, config)
        from router.training import train

        name = args.name or out.stem
        model = train(examples, name=name)
        try:
            model.save(out)
        except OSError as exc:
            raise BadInput(f"{out}: cannot write the model ({exc.strerror or exc})") from exc
    except (BadInput, TrainingError) as exc:
        return _bad(args.command, exc)
    except Unavailable as exc:
        return _bad(args.command, exc, EXIT_UNAVAILABLE)
    labels: dict[str, int] = dict(sorted(model.metadata.get("labels", {}).items()))
    _report({"model": str(out), "name": name, "examples": len(examples), "labels": labels},
            f"trained {name!r} on {len(examples)} examples with {len(labels)} labels; wrote {out}")
    return EXIT_OK


async def run_evaluate(args: argparse.Namespace, config: Config, _secrets: Secrets) -> int:
    if not 0.0 < args.test_size < 1.0:
        return _bad(args.command, BadInput(f"--test-size must be between 0 and 1, got {args.test_size}"))
    try:
        examples = await _examples(args, config)
        from router.training import evaluate

        scores = evaluate(examples, test_size=args.test_size, seed=args.seed)
    except (BadInput, TrainingError) as exc:
        return _bad(args.command, exc)
    except Unavailable as exc:
        return _bad(args.command, exc, EXIT_UNAVAILABLE)
    _report(
        {"accuracy": round(scores.accuracy, 4), "macro_f1": round(scores.macro_f1, 4),
         "n_train": scores.n_train, "n_test": scores.n_test, "labels": len({e.label for e in examples})},
        f"accuracy {scores.accuracy:.3f}, macro-F1 {scores.macro_f1:.3f} on {scores.n_test} held-out examples "
        f"(trained on {scores.n_train})",
    )
    if args.fail_under is not None and scores.macro_f1 < args.fail_under:
        print(f"gateway evaluate: macro-F1 {scores.macro_f1:.3f} is below {args.fail_under}", file=sys.stderr)
        return EXIT_BELOW_FLOOR
    return EXIT_OK


async def _examples(args: argparse.Namespace, config: Config) -> list[LabelledExample]:
    if args.examples is not None:
        from router.training import load_examples

        return load_examples(args.examples)  # ExampleFileError names the file and line
    from gateway.app import build_store, prepare_storage
    from gateway.confirmed import confirmed_examples
    from storage.repository import StorageError

    store = build_store(config)
    try:
        await prepare_storage(config, store)
        examples = await confirmed_examples(store)
    except (StorageError, RuntimeError, OSError) as exc:
        raise Unavailable(f"cannot read the tickets: {exc}") from exc
    finally:
        await store.close()
    if not examples:
        raise BadInput("no confirmed tickets in the database; see `gateway train --help` for what counts")
    return examples


def _out_path(args: argparse.Namespace, config: Config) -> Path:
    if args.out:
        return Path(args.out)
    from gateway.routing import model_path
    from router.config import parse_router_config

    try:
        model = parse_router_config(config.router, "router").model if config.router else None
    except RouterConfigError as exc:  # pragma: no cover - load_config has validated it
        raise BadInput(str(exc)) from exc
    if model is None:
        raise BadInput("give --out FILE (the configuration has no [router.model] to write to)")
    return model_path(config, model)


def _report(data: dict[str, Any], sentence: str) -> None:
    print(json.dumps(data, ensure_ascii=False), flush=True)
    print(sentence, file=sys.stderr)


def _bad(command: str, exc: Exception, code: int = EXIT_BAD_INPUT) -> int:
    print(f"gateway {command}: {exc}", file=sys.stderr)
    return code
