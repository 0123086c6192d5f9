"""``fes-train``: train, evaluate and export the generator families, and refit expression templates.

    fes-train fit --config training/configs/lgan.toml [--run-dir runs/lgan] [--steps N] [--no-resume]
    torchrun --nproc-per-node 2 -m training.cli fit --config ...      (data parallel, same config)
    fes-train eval runs/lgan/checkpoints/step_00001000.pt [--json eval.json]
    fes-train eval path/to/model-folder --data-root /data/london [--config exp.toml]
    fes-train export runs/lgan/checkpoints/step_00001000.pt --out models/lgan [--metrics eval.json]
    fes-train fit-expressions --data-kind ckplus --data-root /data/CK+ --out templates.json
    fes-train heldout --model warp [--people N] [--labels-only | --transfer-only] --out DIR
    fes-train distill-identity --out resources/models/identity-distilled [--minutes 24] [--views 7000]

Every command exits 0 on success; on bad input it prints one line to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from engine.errors import FesError, InputError
from engine.io.atomic import write_bytes_atomic

log = logging.getLogger("fes-train")


def _absolute(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None


def _fit(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 1:
        raise InputError(f"--steps must be at least 1, got {args.steps}")
    import torch.distributed as dist

    from training.config import load_config
    from training.trainer import fit

    config = load_config(args.config)
    if args.steps is not None:
        config = dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, steps=args.steps))
    if args.batch_size is not None:
        config = dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, batch_size=args.batch_size))
    if args.data_root:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=_absolute(args.data_root)))
    if args.device:
        config = dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, device=args.device))
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / config.name
    try:
        result = fit(config, run_dir, resume=not args.no_resume, progress=not args.quiet)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if result.checkpoint is not None:
        print(f"trained {config.name} to step {result.step}; checkpoint {result.checkpoint}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate

    report = evaluate(
        args.model,
        config_path=args.config,
        data_kind=args.data_kind,
        data_root=_absolute(args.data_root),
        backend=args.backend,
        inception=args.inception,
        classifier=args.classifier,
        classifier_size=args.classifier_size,
        limit=args.limit,
    )
    if args.json:
        write_bytes_atomic(args.json, report.to_json().encode("utf-8"))
    print(report.table())
    return 0


def _export(args: argparse.Namespace) -> int:
    from training.export import export_checkpoint

    metrics = None
    if args.metrics:
        try:
            report = json.loads(Path(args.metrics).read_text(encoding="utf-8"))
            metrics = {k: float(v) for k, v in report["methods"]["model"].items() if v is not None}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{args.metrics}: not a fes-train eval JSON ({exc})") from exc
    result = export_checkpoint(
        args.checkpoint,
        args.out,
        name=args.name,
        version=args.version,
        licence=args.licence,
        metrics=metrics,
        data_root=_absolute(args.data_root),
        tolerance=args.tolerance,
        overwrite=args.force,
    )
    for net in result.networks:
        print(f"{net.role}: {net.family} -> {net.stem}.onnx (ONNX vs PyTorch max abs diff {net.max_abs_diff:.2e})")
    print(f"exported {result.manifest.name} to {result.folder}")
    return 0


def _heldout(args: argparse.Namespace) -> int:
    if args.labels_only and args.transfer_only:
        raise InputError("--labels-only and --transfer-only exclude each other")
    if args.people is not None and args.people < 1:
        raise InputError(f"--people must be at least 1, got {args.people}")
    from training.heldout import DEFAULT_DATA_ROOT, evaluate_heldout

    root = Path(args.data_root) if args.data_root else DEFAULT_DATA_ROOT
    if not (root / "neutral").is_dir() or not (root / "smiling").is_dir():
        raise InputError(f"--data-root {root} has no neutral/ and smiling/ folders (London Set layout)")
    report = evaluate_heldout(args.model, args.out, data_root=root, people=args.people,
                              transfer=not args.labels_only, labels=not args.transfer_only)
    print(report.table())
    return 0


def _distill_identity(args: argparse.Namespace) -> int:
    for name in ("minutes", "views", "eval_views", "batch_size", "threads"):
        if getattr(args, name) <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    import torch

    from training.heldout import DEFAULT_DATA_ROOT
    from training.identity_distill import distill

    torch.set_num_threads(args.threads)
    root = Path(args.data_root) if args.data_root else DEFAULT_DATA_ROOT
    manifest = distill(args.out, root.resolve(), args.minutes, args.views, eval_views=args.eval_views, seed=args.seed,
                       batch_size=args.batch_size, cache_dir=_absolute(args.cache_dir) or "")
    print(json.dumps(manifest.heldout, indent=1))
    print(f"distilled {manifest.training['steps']} steps in {manifest.training['minutes']} min -> {args.out}")
    return 0


def _fit_expressions(args: argparse.Namespace) -> int:
    from engine.geometry.expressions import ExpressionTemplates, fit_templates
    from training.config import DataConfig
    from training.data.pairs import first_source_per_target, make_pairs
    from training.trainer import prepared_split

    try:
        options = json.loads(args.options) if args.options else {}
    except ValueError as exc:
        raise InputError(f"--options is not JSON ({exc})") from exc
    data = DataConfig(kind=args.data_kind, root=_absolute(args.data_root), size=args.size, split_file=args.split_file or "",
                      options=options, cache_dir=args.cache_dir or "")
    items = prepared_split(data, args.seed, args.split)
    pairs = first_source_per_target(make_pairs(items, "neutral_to_expression"))
    samples = [(items[s].mesh3d, items[t].mesh3d, items[t].sample.expression) for s, t in pairs]
    base = ExpressionTemplates.load(args.base) if args.base else None
    templates, counts = fit_templates(samples, base=base, note=f"{args.data_kind} {args.split} people", min_samples=args.min_samples)
    templates.save(args.out)
    for label in sorted(counts):
        state = "fitted" if counts[label] >= args.min_samples and label != "neutral" else "kept"
        print(f"{label}: {counts[label]} pairs ({state})")
    print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fes-train", description="Train, evaluate and export FES generator families.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="train a family from an experiment TOML (resumes by default)")
    fit.add_argument("--config", required=True, help="experiment TOML (training/configs/*.toml)")
    fit.add_argument("--run-dir", help="run folder (default runs/<name>)")
    fit.add_argument("--steps", type=int, help="override schedule.steps (at least 1)")
    fit.add_argument("--batch-size", type=int, help="override schedule.batch_size")
    fit.add_argument("--data-root", help="override data.root")
    fit.add_argument("--device", help="override schedule.device (auto, cpu, cuda, cuda:N)")
    fit.add_argument("--no-resume", action="store_true", help="refuse a run folder that holds checkpoints")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(run=_fit)

    ev = sub.add_parser("eval", help="metrics on held-out people against the do-nothing and warp baselines")
    ev.add_argument("model", help="a checkpoint (.pt) or an exported model folder")
    ev.add_argument("--config", help="experiment TOML giving the dataset (model folders)")
    ev.add_argument("--data-kind", help="dataset kind for a model folder without --config (default london)")
    ev.add_argument("--data-root", help="dataset root (overrides the checkpoint's or config's)")
    ev.add_argument("--backend", default="onnxruntime", help="engine backend for the model (default onnxruntime)")
    ev.add_argument("--inception", help="Inception TorchScript (inception-2015-12-05.pt) for FID")
    ev.add_argument("--classifier", help="expression classifier (.pt2 torch.export or TorchScript) for expression accuracy")
    ev.add_argument("--classifier-size", type=int, help="the classifier's input size (default the model's)")
    ev.add_argument("--limit", type=int, help="evaluate only the first N pairs")
    ev.add_argument("--json", help="also write the report as JSON here")
    ev.set_defaults(run=_eval)

    ex = sub.add_parser("export", help="checkpoint -> model folder (ONNX + safetensors + manifest), parity-checked")
    ex.add_argument("checkpoint")
    ex.add_argument("--out", required=True, help="model folder to create")
    ex.add_argument("--name", help="model name (default the experiment name)")
    ex.add_argument("--version", default="1.0.0")
    ex.add_argument("--licence", help="licence line for the manifest (default the config's)")
    ex.add_argument("--metrics", help="a fes-train eval JSON whose model metrics go into the manifest")
    ex.add_argument("--data-root", help="dataset root for the parity input (default the checkpoint's)")
    ex.add_argument("--tolerance", type=float, default=1e-3, help="max abs ONNX vs PyTorch difference (default 1e-3)")
    ex.add_argument("--force", action="store_true", help="replace an existing model folder")
    ex.set_defaults(run=_export)

    fe = sub.add_parser("fit-expressions", help="refit the expression templates from labelled neutral/expressive pairs")
    fe.add_argument("--data-kind", required=True, help="dataset kind (london, ckplus, oulu, rafd, jaffe, kdef, ferg, csv)")
    fe.add_argument("--data-root", required=True)
    fe.add_argument("--options", help="adapter options as JSON, e.g. '{\"peak_frames\": 1}'")
    fe.add_argument("--split", default="dev", help="dev, held_out or all (default dev)")
    fe.add_argument("--split-file", help="JSON with dev / held_out person lists")
    fe.add_argument("--seed", type=int, default=0, help="seed of the hash split (datasets without a split file)")
    fe.add_argument("--size", type=int, default=256, help="crop size the meshes are measured at")
    fe.add_argument("--cache-dir", help="preprocessing cache root")
    fe.add_argument("--min-samples", type=int, default=3, help="pairs a label needs to be refitted")
    fe.add_argument("--base", help="templates to start from (default the shipped ones)")
    fe.add_argument("--out", required=True, help="templates JSON to write")
    fe.set_defaults(run=_fit_expressions)

    ho = sub.add_parser("heldout", help="strict held-out protocol: transfer, cross-identity and label reading, with grids")
    ho.add_argument("--model", default="warp", help="'warp', a bundled model name or a model folder")
    ho.add_argument("--people", type=int, help="first N held-out people (default all 16)")
    ho.add_argument("--data-root", help="London Set folder (default ../shared/data/london beside the repository)")
    ho.add_argument("--out", required=True, help="folder for results.json, results.md and the PNG grids")
    ho.add_argument("--labels-only", action="store_true", help="only the label-reading measure")
    ho.add_argument("--transfer-only", action="store_true", help="only same-person and cross-identity transfer")
    ho.set_defaults(run=_heldout)

    di = sub.add_parser("distill-identity", help="fit a differentiable identity network to dlib's descriptors (London dev people)")
    di.add_argument("--out", required=True, help="folder for identity.safetensors and identity.json (replaced)")
    di.add_argument("--data-root", help="London Set folder (default ../shared/data/london beside the repository)")
    di.add_argument("--minutes", type=float, default=24.0, help="training wall clock (default 24)")
    di.add_argument("--views", type=int, default=7000, help="augmented dev views with dlib targets (default 7000)")
    di.add_argument("--eval-views", type=int, default=10, help="views per held-out photo measured (default 10)")
    di.add_argument("--batch-size", type=int, default=32)
    di.add_argument("--seed", type=int, default=0)
    di.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    di.add_argument("--cache-dir", help="teacher-view cache (default the user cache folder)")
    di.set_defaults(run=_distill_identity)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except FesError as exc:
        print(f"fes-train {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fes-train {args.command}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fes-train {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
