"""Train and evaluate the ensemble world model from dataset files (pure PyTorch, no Isaac Lab needed).

Examples:
  python scripts/world_model.py train --data ../shared/data/anymal_d_flat_rollout_part0.csv --robot anymal_d \\
      --eval-data ../shared/data/anymal_d_flat_rollout_part1.csv --time-budget 900
  python scripts/world_model.py train --resume logs/world_model/<run>/last.pt --data <same files>
  python -m torch.distributed.run --standalone --nproc_per_node=2 scripts/world_model.py train --data <files>
  python scripts/world_model.py eval --checkpoint logs/world_model/<run>/best.pt \\
      --data ../shared/data/anymal_d_flat_rollout_part1.csv

Train writes to --out (default logs/world_model/<timestamp>): last.pt (periodic, atomic), best.pt (lowest
held-out open-loop error), TensorBoard events, summary.json. Eval prints error tables (model vs baselines),
noise robustness, the uncertainty-error correlation (normalised and raw units, 95 % intervals), the AUROC of u
against --ood-data, the calibration of the predicted std and the share of the data's falls the model foresees,
and writes report.json and PNG plots.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from ..layout import get_layout
from ..world_model import distributed
from ..world_model.data import DatasetError, TransitionStore, load_dataset, read_npz
from ..world_model.files import write_json
from ..world_model.evaluate import DEFAULT_HORIZONS
from ..world_model.train import TrainConfig
from ..world_model.checkpoint import load_checkpoint

VAL_HORIZON = 32
"""Forecast steps of the held-out error tracked during training (``rel_l1_h32``, ``rel_l1_mean32``)."""


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--robot", default=None,
                   help="robot layout of CSV files ('anymal_d' or 'go2'); .npz files carry their robot; unset: "
                        "anymal_d (or the .npz robot) for training, the checkpoint's robot for eval")  # fmt: skip
    p.add_argument("--episode-length", type=int, default=None,
                   help="CSV files: declare back-to-back episodes of this many rows instead of detecting starts "
                        "(rows with zero joint velocities and actions)")  # fmt: skip
    p.add_argument("--no-detect-starts", action="store_true",
                   help="CSV files: treat each file as one episode (only termination flags split it)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (on a shared 2-core machine 2 threads can be 20x slower than 1)")
    p.add_argument("--device", default="cpu", help="torch device")


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a world model on dataset files",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    t.add_argument("--data", nargs="+", required=True, help="training files (.csv reference layout or .npz)")
    t.add_argument("--eval-data", nargs="+", default=None,
                   help="held-out files for validation; default: the last --val-fraction of the training "
                        "rows")  # fmt: skip
    t.add_argument("--val-fraction", type=float, default=0.1, help="held-out fraction when no --eval-data is given")
    t.add_argument("--out", default=None, help="run directory; unset: logs/world_model/<timestamp>")
    t.add_argument("--resume", default=None, help="checkpoint (last.pt) to continue from; its configs are kept")
    t.add_argument("--iterations", type=int, default=20000, help="maximum gradient steps (total, incl. resumed)")
    t.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds of training")
    t.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="windows per minibatch (in all: under torchrun each process trains on its share)")
    t.add_argument("--lr", type=float, default=d.learning_rate, help="Adam learning rate")
    t.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="cosine decays to 10%% of --lr over --iterations")  # fmt: skip
    t.add_argument("--weight-decay", type=float, default=d.weight_decay, help="Adam weight decay")
    t.add_argument("--grad-clip", type=float, default=d.grad_clip, help="gradient-norm clip")
    t.add_argument("--loss", choices=["mse_nll", "nll", "mse"], default=d.loss,
                   help="state loss (see rwm_tasks.world_model.train.TrainConfig.loss)")
    t.add_argument("--alpha", type=float, default=d.alpha, help="forecast step weight base alpha**k")
    t.add_argument("--history", type=int, default=d.history, help="M: history rows")
    t.add_argument("--forecast", type=int, default=d.forecast, help="N: forecast steps in the loss")
    t.add_argument("--history-weight", type=float, default=d.history_weight,
                   help="weight of the auxiliary teacher-forced one-step loss on the history rows (0 = pure RWM)")
    t.add_argument("--no-bootstrap", action="store_true", help="all heads see the same minibatch")
    t.add_argument("--mirror", action="store_true",
                   help="also train on left-right mirrored windows (half of each minibatch): more accurate on "
                        "motions the data has only on one side, less uncertain there too")  # fmt: skip
    t.add_argument("--bootstrap-block", type=int, default=0,
                   help="window starts sharing one bootstrap weight per head (0: four window lengths)")
    t.add_argument("--no-std-calibration", action="store_true",
                   help="keep the trained std (default: rescale it per dimension on the held-out windows at each "
                        "checkpoint; see rwm_tasks.world_model.uncertainty.fit_std_scale)")
    t.add_argument("--prior-scale", type=float, default=1.0,
                   help="randomised prior functions: scale of each head's fixed random prior (0: off)")
    t.add_argument("--heads", type=int, default=5, help="B ensemble heads (1 = plain RWM)")
    t.add_argument("--hidden", type=int, default=256, help="GRU hidden size")
    t.add_argument("--layers", type=int, default=2, help="GRU layers")
    t.add_argument("--head-hidden", type=int, nargs="*", default=[128], help="hidden sizes of each head's MLP")
    t.add_argument("--seed", type=int, default=d.seed, help="seed of model init, window sampling, bootstrap, noise")
    t.add_argument("--eval-every", type=int, default=100, help="iterations between held-out evaluations")
    t.add_argument("--checkpoint-every", type=int, default=200, help="iterations between checkpoints (last.pt)")
    t.add_argument("--val-windows", type=int, default=128, help="held-out windows per evaluation")
    _add_data_args(t)

    e = sub.add_parser("eval", help="evaluate a checkpoint on held-out dataset files",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    e.add_argument("--checkpoint", required=True, help="world-model checkpoint (.pt) written by train")
    e.add_argument("--data", nargs="+", required=True, help="held-out files (.csv or .npz)")
    e.add_argument("--out", default=None, help="output directory; unset: <checkpoint dir>/eval_<checkpoint name>")
    e.add_argument("--history", type=int, default=None, help="history rows; unset: the training value")
    e.add_argument("--horizons", type=int, nargs="+", default=list(DEFAULT_HORIZONS),
                   help="forecast steps to tabulate")  # fmt: skip
    e.add_argument("--noise", type=float, nargs="*", default=[0.1, 0.2, 0.4, 0.8], help="input noise scales")
    e.add_argument("--windows", type=int, default=256, help="held-out windows (evenly spread)")
    e.add_argument("--corr-stride", type=int, default=10,
                   help="uncertainty vs error: a window starts every this many rows of each episode")
    e.add_argument("--corr-windows", type=int, default=None,
                   help="at most this many of the strided windows (evenly thinned); unset: all; 0: skip")
    e.add_argument("--corr-steps", type=int, default=200, help="rollout steps (at most) per correlation window")
    e.add_argument("--corr-min-steps", type=int, default=40,
                   help="shortest rollout (rows left in the episode) for a correlation window")
    e.add_argument("--ood-data", nargs="+", default=None,
                   help="out-of-distribution files: report the AUROC of u for telling them from --data")
    e.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the 95%% intervals")
    e.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _add_data_args(e)
    return parser


POSITIVE_TRAIN_ARGS = ("iterations", "batch_size", "lr", "history", "forecast", "heads", "hidden", "layers",
                       "eval_every", "checkpoint_every", "val_windows", "threads", "time_budget", "episode_length")
POSITIVE_EVAL_ARGS = ("history", "horizons", "windows", "corr_stride", "corr_steps", "corr_min_steps", "bootstrap",
                      "threads", "episode_length")


def _check_numbers(args, names) -> None:
    """A ValueError naming the first flag of ``names`` that is set but not positive (lists: each item)."""
    for name in names:
        value = getattr(args, name, None)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and not v > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {v}")


def _load_files(paths, layout, args, window):
    return [load_dataset(p, layout, args.episode_length, not args.no_detect_starts, min_window=window) for p in paths]


def _infer_layout(robot, first_file):
    """--robot if given, else the robot of a .npz file, else ANYmal D (the reference CSV's robot)."""
    if robot:
        return get_layout(robot)
    if str(first_file).endswith(".npz"):
        return read_npz(first_file).layout
    print("[world_model] no --robot given: reading CSV files as anymal_d (the reference layout)")
    return get_layout("anymal_d")


def train(args) -> int:
    """Under ``torchrun`` (``python -m torch.distributed.run --nproc_per_node=N scripts/world_model.py train ...``)
    data-parallel over the processes (Gloo on CPU, NCCL on CUDA, see :mod:`rwm_tasks.world_model.distributed`);
    rank 0 validates and writes the run folder."""
    args.device = distributed.init_from_env(args.device)
    try:
        return _train(args)
    finally:
        distributed.shutdown()


def _train(args) -> int:
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from ..world_model.evaluate import relative_l1, rollout
    from ..world_model.uncertainty import fit_std_scale
    from ..world_model.train import Trainer, cosine_lr, make_model, pos_weight_from_rate
    from ..world_model.checkpoint import save_checkpoint

    torch.set_num_threads(args.threads)
    try:
        _check_numbers(args, POSITIVE_TRAIN_ARGS)
        if not 0 < args.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
        resumed = load_checkpoint(args.resume, args.robot, args.device) if args.resume else None
        layout = resumed.layout if resumed else _infer_layout(args.robot, args.data[0])
    except (ValueError, FileNotFoundError) as err:  # DatasetError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2
    cfg = resumed.train_config if resumed else TrainConfig(
        history=args.history, forecast=args.forecast, alpha=args.alpha, loss=args.loss, batch_size=args.batch_size,
        learning_rate=args.lr, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        bootstrap=not args.no_bootstrap, bootstrap_block=args.bootstrap_block, history_weight=args.history_weight,
        mirror=args.mirror, seed=args.seed)  # fmt: skip
    try:
        train_data = _load_files(args.data, layout, args, None)
        if args.eval_data:
            val_data = _load_files(args.eval_data, layout, args, cfg.history + VAL_HORIZON)
        else:
            pairs = [d.split(args.val_fraction) for d in train_data]
            train_data, val_data = [p[0] for p in pairs], [p[1] for p in pairs]
        store = TransitionStore(train_data, cfg.window, args.device)
        val_window = cfg.history + VAL_HORIZON
        val_store = TransitionStore(val_data, val_window, args.device)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    main = distributed.is_main()
    if cfg.batch_size < distributed.world_size():
        print(f"error: --batch-size {cfg.batch_size} is smaller than the {distributed.world_size()} processes",
              file=sys.stderr)  # fmt: skip
        return 2

    if resumed:
        model = resumed.model
        trainer = Trainer(model, cfg)
        trainer.load_state_dict(resumed.trainer_state)
        out = Path(args.out or Path(args.resume).parent)
        best = resumed.extra.get("best_val", float("inf"))
    else:
        model = make_model(layout, store, seed=cfg.seed, num_heads=args.heads, hidden_dim=args.hidden,
                           num_layers=args.layers, head_hidden_dims=tuple(args.head_hidden),
                           prior_scale=args.prior_scale)  # fmt: skip
        model = model.to(args.device)
        rates = store.flag_rates()
        trainer = Trainer(model, cfg, pos_weight_from_rate(rates["contact"], cfg.pos_weight_cap),
                          pos_weight_from_rate(rates["termination"], cfg.pos_weight_cap))  # fmt: skip
        out = Path(args.out or Path("logs/world_model") / datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))
        best = float("inf")
    out = distributed.broadcast_object(out)  # rank 0's timestamp names the run folder
    if not main:
        return _follow(args, trainer, store)
    out.mkdir(parents=True, exist_ok=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[world_model] robot {layout.robot}: {len(store)} training rows, {store.num_windows} windows of "
          f"{cfg.window}; {val_store.num_windows} held-out windows; {n_params} parameters; run dir {out}"
          + (f"; {distributed.world_size()} processes" if distributed.is_distributed() else ""))  # fmt: skip
    writer = SummaryWriter(str(out))
    val_batch = val_store.evenly_spaced(args.val_windows)
    loss_batch = TransitionStore(val_data, cfg.window, args.device).evenly_spaced(args.val_windows)

    def validate() -> dict:
        logs = trainer.validation_loss(loss_batch)
        r = rollout(model, val_batch, cfg.history)
        err = relative_l1(r.pred, r.true, {})["all"]
        logs.update({"rel_l1_h1": float(err[0]), "rel_l1_h8": float(err[7]), "rel_l1_h32": float(err[31]),
                     "rel_l1_mean32": float(err.mean()),
                     "epistemic_h32": float(r.epistemic[:, 31].mean())})  # fmt: skip
        return logs

    calibration_batch = TransitionStore(val_data, cfg.history + 1, args.device).evenly_spaced(4096)

    def checkpoint(name: str, metrics: dict) -> None:
        if not args.no_std_calibration:
            fit_std_scale(model, calibration_batch, cfg.history)
        save_checkpoint(out / name, model, layout, trainer, {"best_val": best, "metrics": metrics, "args": vars(args)})

    start, last_val, first_iteration = time.perf_counter(), {}, trainer.iteration
    bar = tqdm(total=args.iterations, initial=trainer.iteration, desc="train", unit="it", dynamic_ncols=True)
    try:
        while trainer.iteration < args.iterations:
            if _out_of_time(args, start):
                break
            if args.lr_schedule == "cosine":
                cosine_lr(trainer, args.iterations)
            logs = trainer.update(store)
            it = trainer.iteration
            for k, v in logs.items():
                writer.add_scalar(f"train/{k}", v, it)
            bar.update(1)
            bar.set_postfix(loss=f"{logs['loss']:.3f}", mse=f"{logs['state_mse']:.3f}",
                            val_h32=f"{last_val.get('rel_l1_h32', float('nan')):.3f}")  # fmt: skip
            if it % args.eval_every == 0 or it == args.iterations:
                last_val = validate()
                for k, v in last_val.items():
                    writer.add_scalar(f"val/{k}", v, it)
                if last_val["rel_l1_mean32"] < best:
                    best = last_val["rel_l1_mean32"]
                    checkpoint("best.pt", last_val)
            if it % args.checkpoint_every == 0:
                checkpoint("last.pt", last_val)
    except KeyboardInterrupt:
        print("\n[world_model] interrupted: saving last.pt")
    bar.close()
    elapsed = time.perf_counter() - start
    last_val = validate()
    if last_val["rel_l1_mean32"] < best:
        best = last_val["rel_l1_mean32"]
        checkpoint("best.pt", last_val)
    checkpoint("last.pt", last_val)
    writer.close()
    steps = trainer.iteration - first_iteration
    summary = {"iterations": trainer.iteration, "steps_this_run": steps, "train_seconds": elapsed,
               "sequences_per_s": steps * cfg.batch_size / max(elapsed, 1e-9), "processes": distributed.world_size(),
               "best_val_rel_l1_mean32": best, "final_val": last_val, "run_dir": str(out)}  # fmt: skip
    write_json(out / "summary.json", summary)
    print(f"[world_model] {trainer.iteration} iterations in {elapsed:.0f} s ({summary['sequences_per_s']:.0f} "
          f"sequences/s on {summary['processes']} process(es), validation included); held-out relative L1 "
          f"h1 {last_val['rel_l1_h1']:.3f} h8 {last_val['rel_l1_h8']:.3f} h32 {last_val['rel_l1_h32']:.3f}; "
          f"best mean(h1..32) {best:.3f}; checkpoints in {out}")  # fmt: skip
    return 0


def _out_of_time(args, start: float) -> bool:
    """--time-budget spent (on rank 0's clock: every rank stops at the same iteration)."""
    if args.time_budget is None:
        return False
    return distributed.any_rank(distributed.is_main() and time.perf_counter() - start > args.time_budget)


def _follow(args, trainer, store) -> int:
    """The training loop of ranks other than 0: the same updates (and learning rates), no files."""
    from ..world_model.train import cosine_lr

    start = time.perf_counter()
    while trainer.iteration < args.iterations and not _out_of_time(args, start):
        if args.lr_schedule == "cosine":
            cosine_lr(trainer, args.iterations)
        trainer.update(store)
    return 0


def evaluate(args) -> int:
    from ..world_model.evaluate import evaluate_model, format_report, write_plots
    from ..world_model.falls import fall_foresight, format_fall_foresight

    torch.set_num_threads(args.threads)
    try:
        _check_numbers(args, POSITIVE_EVAL_ARGS)
        ckpt = load_checkpoint(args.checkpoint, args.robot, args.device)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    history = args.history or (ckpt.train_config.history if ckpt.train_config else TrainConfig.history)
    try:
        data = _load_files(args.data, ckpt.layout, args, history + max(args.horizons))
        ood = _load_files(args.ood_data, ckpt.layout, args, None) if args.ood_data else None
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or Path(args.checkpoint).parent / f"eval_{Path(args.checkpoint).stem}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report = evaluate_model(ckpt.model, data, history, tuple(args.horizons), tuple(args.noise), args.windows,
                            args.corr_windows, args.corr_steps, keep_rollout=not args.no_plots,
                            correlation_stride=args.corr_stride, correlation_min_steps=args.corr_min_steps,
                            ood_data=ood, num_boot=args.bootstrap)  # fmt: skip
    report["checkpoint"], report["data"] = str(args.checkpoint), [str(p) for p in args.data]
    report["ood_data"] = [str(p) for p in args.ood_data] if args.ood_data else None
    print(format_report(report))
    for key, files, what in (("falls", data, "--data"), ("ood_falls", ood, "--ood-data")):
        if files:
            report[key] = fall_foresight(ckpt.model, files, history)
            print(f"{what}: {format_fall_foresight(report[key])}")
    plots = [] if args.no_plots else write_plots(report, ckpt.layout, out)
    report.pop("_rollouts", None)
    write_json(out / "report.json", report, indent=1)
    print(f"[world_model] evaluated in {time.perf_counter() - t0:.1f} s; report {out / 'report.json'}")
    for p in plots:
        print(f"[world_model] plot {p}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return train(args) if args.command == "train" else evaluate(args)
