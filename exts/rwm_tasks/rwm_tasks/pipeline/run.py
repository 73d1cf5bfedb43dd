"""The RWM / RWM-U pipeline as one resumable job: PPO -> data policy -> data -> world model -> MOPO-PPO and
MBPO-PPO -> every policy scored in real physics -> report.

Each step writes its outputs under ``<out>/<step>/`` and a ``step.json`` last; a step whose ``step.json``
exists is skipped, so an interrupted pipeline continues where it stopped. Training steps run the package's
own command lines (``scripts/train.py``, ``scripts/world_model.py``) as child processes, exactly as a user
would, with their output streamed to the terminal and to ``<step>/log.txt``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from ..launch import find_checkpoint
from ..tasks import experiment_name, robot_task
from ..world_model.files import copy_file, write_json
from .shift import uncertainty_shift

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
SCRIPTS = os.path.join(REPO, "scripts")


def latest_checkpoint(run_dir: str) -> str:
    """The run's latest ``model_<it>.pt`` that loads (:func:`rwm_tasks.launch.find_checkpoint`)."""
    return find_checkpoint(os.path.dirname(run_dir), os.path.basename(run_dir), None)


@dataclass
class Scale:
    """Sizes of one pipeline scale."""

    init_envs: int
    init_iterations: int
    init_minutes: float | None
    save_interval: int
    collect_envs: int
    collect_steps: int
    heldout_envs: int
    world_model_seconds: float
    offline_iterations: int
    """Iterations of MOPO-PPO with lambda = 0 (the twin, and the start of the penalised policy)."""
    offline_phases: tuple[tuple[float, int], ...]
    """(penalty share, iterations) of each phase of the penalised policy after the lambda-0 start. Full scale's
    last phase: 250 iterations, which scored 0.816 in an earlier run that went on to 0.850 after 500; the 500
    did not fit the pipeline's 90 minutes."""
    finetune_iterations: int
    """MBPO-PPO iterations from the data policy. Full scale: the from-scratch Go2 run's checkpoint after 160 of
    510 iterations scored 0.888 (64 envs x 20 s), its last 0.880, at a third of the wall time."""
    finetune_real_envs: int
    imagined_envs: int
    curve_envs: int
    curve_seconds: float
    eval_envs: int
    eval_seconds: float
    probe_steps: int
    isaaclab_check: tuple[str, ...]
    """Policies also scored briefly on kit-less Isaac Lab (a few minutes each on a CPU)."""
    collect_action_noise: float = 0.0
    """Each collecting env adds Gaussian action noise of a std drawn from [0, this] (RWM-U: the data policy
    with action noise). Go2 from scratch (same data policy, seeds and steps): with 0.5 the offline policy
    scored 0.850 (0.23 falls per env-minute) against 0.538 (7.0) without, above the data policy's 0.574; its
    first penalised phase 0.773 against 0.446, the lambda-0 twin 0.148 against 0.074."""


SCALES = {
    "smoke": Scale(init_envs=64, init_iterations=3, init_minutes=None, save_interval=1, collect_envs=16,
                   collect_steps=120, heldout_envs=4, world_model_seconds=15, offline_iterations=2,
                   offline_phases=((2.5, 2), (5.0, 2)), finetune_iterations=2, finetune_real_envs=4, imagined_envs=64,
                   curve_envs=4, curve_seconds=1.0, eval_envs=8, eval_seconds=2.0, probe_steps=20,
                   isaaclab_check=(), collect_action_noise=0.5),
    "quick": Scale(init_envs=1024, init_iterations=2000, init_minutes=10, save_interval=20, collect_envs=128,
                   collect_steps=500, heldout_envs=16, world_model_seconds=240, offline_iterations=60,
                   offline_phases=((2.5, 60), (5.0, 60)), finetune_iterations=40, finetune_real_envs=16, imagined_envs=1024,
                   curve_envs=32, curve_seconds=10.0, eval_envs=32, eval_seconds=10.0, probe_steps=100,
                   isaaclab_check=(), collect_action_noise=0.5),
    "full": Scale(init_envs=1024, init_iterations=3000, init_minutes=25, save_interval=10, collect_envs=256,
                  collect_steps=1000, heldout_envs=32, world_model_seconds=900, offline_iterations=250,
                  offline_phases=((2.5, 500), (5.0, 250)), finetune_iterations=160, finetune_real_envs=16, imagined_envs=1024,
                  curve_envs=32, curve_seconds=10.0, eval_envs=64, eval_seconds=20.0, probe_steps=200,
                  isaaclab_check=("init", "offline", "finetune"), collect_action_noise=0.5),
}  # fmt: skip

DATA_POLICY_BAND = (0.5, 0.6)
"""The data policy is the earliest Init checkpoint whose evaluated score lies in this band (RWM-U: a mediocre
data policy). The upper bound: on Go2 the offline policy scored 0.640, 0.602 and 0.816 from data policies of
0.473, 0.550 and 0.574, but 0.662 from one of 0.705."""
DATA_POLICY_TRIES = 6
"""Checkpoints the curve puts at or above the band's floor that are re-scored with the evaluation's envs and
seconds. The curve's shorter scoring reads higher: the Go2 run whose curve gave 0.521 at iteration 400 scored
0.473 when evaluated (iteration 420: 0.705)."""


def _band_distance(score: float) -> float:
    low, high = DATA_POLICY_BAND
    return max(low - score, score - high, 0.0)


def choose_data_policy(curve: list[dict], score) -> tuple[dict | None, list[tuple[int, float]]]:
    """The earliest curve row whose checkpoint ``score(row)`` puts in :data:`DATA_POLICY_BAND`, trying the first
    :data:`DATA_POLICY_TRIES` rows the curve puts at or above its floor (else the one tried nearest the band);
    the curve's best row when none is there. Returns the row and the (iteration, score) pairs tried."""
    good = [r for r in curve if r["tracking_score"] >= DATA_POLICY_BAND[0]][:DATA_POLICY_TRIES]
    tried = []
    for row in good:
        tried.append((row["iteration"], score(row)))
        if _band_distance(tried[-1][1]) == 0.0:
            return row, tried
    if good:
        return good[min(range(len(tried)), key=lambda i: _band_distance(tried[i][1]))], tried
    return (max(curve, key=lambda r: r["tracking_score"]) if curve else None), tried


OFFLINE_PENALTY_SHARE = 2.5
"""Offline lambda: the data policy's mean penalty is this share of its raw imagined reward (the scale's phases
use shares of the same probe). Measured on Go2 (frozen model, scored in MuJoCo): from a fresh policy, shares 0
and 0.5 learned gaits the model misjudged (25 and 15 falls per env-minute, imagined return positive, real
negative) and 2.5 stood still (0.18 after 250 iterations, still standing after 425; 1.25: 0.15 after 650).
Started from the lambda-0 policy, which walks in imagination, share 2.5 for 500 iterations reached 0.42
(falls 25 -> 9.5 per minute) and share 5 for 500 more 0.715 (2.8 falls per minute; 0.56-0.71 on the way),
against 0.51 for the data policy: the penalty pulls a walking gait back to where the model is right, where
from standing it only kept the policy standing. From scratch with the current recipe (data with action noise)
the same shares gave 0.773 after phase 1 and, after phase 2, 0.816 at 250 iterations (what the full scale
runs) and 0.850 at 500, against 0.574 for the data policy."""
FINETUNE_PENALTY_SHARE = 0.5
"""Finetune lambda, as above: new real data keep correcting the model, so a lighter penalty suffices."""


class Pipeline:
    """Runs the steps of one robot's pipeline into ``out``; see the module docstring."""

    def __init__(self, robot: str, out: str, scale: str = "full", sim: str = "mujoco", seed: int = 0,
                 init: str | None = None):  # fmt: skip
        self.robot, self.out, self.scale_name, self.sim, self.seed = robot, os.path.abspath(out), scale, sim, seed
        self.scale = SCALES[scale]
        self.init = os.path.abspath(init) if init else None
        self.task = lambda stage: robot_task(robot, stage)  # noqa: E731
        self.started = time.time()
        """When this invocation began: the report gives its wall time beside the sum of its steps'."""
        self.active_lanes = 0
        """Lanes still running while steps run side by side (0: one step at a time, children use their default
        threads); a child started then gets an equal share of the cores (:meth:`child_threads`)."""
        os.makedirs(self.out, exist_ok=True)

    # -- plumbing -----------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return os.path.join(self.out, *parts)

    def done(self, step: str) -> dict | None:
        marker = self.path(step, "step.json")
        if os.path.isfile(marker):
            with open(marker) as f:
                return json.load(f)
        return None

    def finish(self, step: str, result: dict, start: float) -> dict:
        result = {**result, "wall_time_s": round(time.time() - start, 1)}
        write_json(self.path(step, "step.json"), result)
        return result

    def run(self, step: str, argv: list[str]) -> None:
        """A child process in ``<out>/<step>`` (its logs/ go there too), output streamed and kept."""
        os.makedirs(self.path(step), exist_ok=True)
        command = [sys.executable, *argv]
        print(f"[pipeline] {step}: {' '.join(command)}", flush=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        threads = self.child_threads()
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        tag = f"[{step}] " if self.active_lanes else ""
        with open(self.path(step, "log.txt"), "a") as log:
            log.write(f"$ {' '.join(command)}\n")
            proc = subprocess.Popen(command, cwd=self.path(step), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env=env)  # fmt: skip
            for line in proc.stdout:
                log.write(line)
                if not line.startswith((" ", "\x1b", "#")) or "Learning iteration" in line:
                    print(f"  {tag}{line.strip()}", flush=True)
            if proc.wait() != 0:
                raise RuntimeError(f"pipeline step '{step}' failed (exit {proc.returncode}); see {self.path(step, 'log.txt')}")

    def latest_run(self, step: str, experiment: str) -> str:
        root = self.path(step, "logs", "rsl_rl", experiment)
        runs = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        return os.path.join(root, runs[-1])

    def step(self, name: str, fn) -> dict:
        found = self.done(name)
        if found is not None:
            print(f"[pipeline] {name}: done before ({self.path(name, 'step.json')})", flush=True)
            return found
        print(f"[pipeline] === {name} ===", flush=True)
        start = time.time()
        return self.finish(name, fn(), start)

    def child_threads(self) -> int | None:
        """Torch threads of a child started now: the cores shared equally by the running lanes (two training
        processes with a thread per core each ran several times slower than with one); None outside lanes."""
        return max(1, (os.cpu_count() or 1) // self.active_lanes) if self.active_lanes else None

    def lanes(self, *lanes: list[tuple[str, object]]) -> dict:
        """Lanes of steps side by side, each lane's steps in order. A step started after another lane has ended
        gets that lane's cores too. Returns every step's result; a failing step fails the whole call after the
        other lanes end."""

        def run_lane(lane):
            try:
                return {name: self.step(name, fn) for name, fn in lane}
            finally:
                with counter:
                    self.active_lanes -= 1

        counter = threading.Lock()
        self.active_lanes = len(lanes)
        try:
            with ThreadPoolExecutor(len(lanes)) as pool:
                futures = [pool.submit(run_lane, lane) for lane in lanes]
                results = [f.result() for f in futures]
        finally:
            self.active_lanes = 0
        return {name: r for lane in results for name, r in lane.items()}

    # -- steps --------------------------------------------------------------------------------------------
    def run_all(self) -> dict:
        from ..training.imagination_probe import choose_penalty

        s = self.scale
        results = {"init": self.step("init", self.init_policy)}
        results["data_policy"] = self.step("data_policy", lambda: self.data_policy(results["init"]))
        results["collect"] = self.step("collect", self.collect)
        results["world_model"] = self.step("world_model", self.world_model)
        results["probe"] = self.step("probe", self.probe)
        steps, (penalised, finetune) = self.offline_steps(), self.side_by_side()
        # the lambda-0 twin alone on every core, then the two lanes side by side
        results[steps[0]] = self.step(steps[0], lambda: self.offline(steps[0], 0.0, s.offline_iterations))
        phases = []
        for name, previous, (share, iterations) in zip(penalised, steps, s.offline_phases):  # from the previous policy
            phases.append((name, lambda n=name, p=previous, sh=share, it=iterations: self.offline(
                n, choose_penalty(results["probe"]["data_policy"], sh), it, self.path(p, "model.pt"))))
        results.update(self.lanes(phases, [(finetune[0], lambda: self.finetune(results["probe"]["finetune_lambda"])),
                                           (finetune[1], lambda: uncertainty_shift(self))]))
        results["evaluate"] = self.step("evaluate", lambda: self.evaluate(results))
        from .report import write_pipeline_report

        write_pipeline_report(self, results)
        print(f"[pipeline] report: {self.path('report.md')} (scale {self.scale_name}, {s.init_envs} Init envs)")
        return results

    def init_policy(self) -> dict:
        s = self.scale
        if self.init and os.path.isdir(self.init):
            run_dir = self.init
        elif self.init:
            return {"run_dir": None, "checkpoint": self.init, "given": True}
        else:
            argv = [os.path.join(SCRIPTS, "train.py"), "--task", self.task("Init"), "--sim", self.sim, "--seed",
                    str(self.seed), "--num_envs", str(s.init_envs), "--max_iterations", str(s.init_iterations),
                    "--run_name", "pipeline", f"agent.save_interval={s.save_interval}"]  # fmt: skip
            if s.init_minutes:
                argv += ["--max_minutes", str(s.init_minutes)]
            self.run("init", argv)
            run_dir = self.latest_run("init", experiment_name(self.task("Init")))
        from ..evaluation.report import plot_learning_curve, score_run

        rows = score_run(run_dir, sim=self.sim, num_envs=s.curve_envs, seconds=s.curve_seconds, seed=self.seed)
        plot_learning_curve(rows, f"{self.robot} Init (model-free PPO), {self.sim}", self.path("init", "learning_curve.png"))
        return {"run_dir": run_dir, "checkpoint": latest_checkpoint(run_dir), "curve": rows, "given": bool(self.init)}

    def data_policy(self, init: dict) -> dict:
        """:func:`choose_data_policy` on the Init curve, each candidate scored as the report scores it."""
        os.makedirs(self.path("data_policy"), exist_ok=True)
        scores, in_place = {}, []

        def score(checkpoint: str) -> float:
            copy_file(checkpoint, self.path("data_policy", "model.pt"))
            in_place[:] = [checkpoint]
            scores[checkpoint] = self.score("data_policy")
            return scores[checkpoint]["tracking_score"]

        chosen, tried = choose_data_policy(init.get("curve") or [], lambda row: score(row["checkpoint"]))
        source = chosen["checkpoint"] if chosen else init["checkpoint"]
        if in_place != [source]:
            score(source)
        return {"source": source, "tried": tried, "iteration": chosen["iteration"] if chosen else None,
                "real_transitions": chosen["real_transitions"] if chosen else None, "score": scores[source]}  # fmt: skip

    def score(self, folder: str, checkpoint: str | None = None) -> dict:
        """The evaluation of ``folder``'s policy (or of ``checkpoint``), written into ``folder``."""
        from ..evaluation.harness import evaluate_policy

        s, checkpoint = self.scale, checkpoint or self.path(folder, "model.pt")
        os.makedirs(self.path(folder), exist_ok=True)
        result = evaluate_policy(self.task("Play"), checkpoint, sim=self.sim, num_envs=s.eval_envs,
                                 seconds=s.eval_seconds, seed=self.seed, out_dir=self.path(folder), overwrite=True,
                                 quiet=True)  # fmt: skip
        print(f"[pipeline] {folder}: tracking score {result['tracking_score']:.3f}, falls/env-min "
              f"{result['falls_per_env_minute']:.2f}", flush=True)  # fmt: skip
        return {k: result[k] for k in ("tracking_score", "yaw_tracking_score", "falls_per_env_minute", "return_per_second")}

    def collect(self) -> dict:
        from ..training.collect import collect_dataset

        s, policy = self.scale, self.path("data_policy", "model.pt")
        noise = s.collect_action_noise
        train = collect_dataset(self.task("Init"), policy, self.path("collect", "dataset.npz"), sim=self.sim,
                                num_envs=s.collect_envs, steps=s.collect_steps, seed=self.seed, action_noise=noise)  # fmt: skip
        heldout = collect_dataset(self.task("Init"), policy, self.path("collect", "heldout.npz"), sim=self.sim,
                                  num_envs=s.heldout_envs, steps=s.collect_steps, seed=self.seed + 1, action_noise=noise)  # fmt: skip
        return {"dataset": self.path("collect", "dataset.npz"), "heldout": self.path("collect", "heldout.npz"),
                "train": train, "heldout_info": heldout}  # fmt: skip

    def world_model(self) -> dict:
        s, script = self.scale, os.path.join(SCRIPTS, "world_model.py")
        data, heldout = self.path("collect", "dataset.npz"), self.path("collect", "heldout.npz")
        run = self.path("world_model", "run")
        if not os.path.isfile(os.path.join(run, "summary.json")):
            last = os.path.join(run, "last.pt")
            resume = ["--resume", last] if os.path.isfile(last) else []  # an interrupted training continues
            self.run("world_model", [script, "train", "--data", data, "--eval-data", heldout, "--out", run,
                                     "--time-budget", str(s.world_model_seconds), "--seed", str(self.seed), *resume])  # fmt: skip
        copy_file(os.path.join(run, "best.pt"), self.path("world_model.pt"))
        report = self.evaluate_world_model("world_model", heldout)
        with open(os.path.join(run, "summary.json")) as f:
            summary = json.load(f)
        return {"checkpoint": self.path("world_model.pt"), "summary": summary, "eval": _small(report)}

    def evaluate_world_model(self, step: str, data: str, *extra: str) -> dict:
        """``scripts/world_model.py eval`` of the pipeline's world model on ``data`` into ``<step>/eval``."""
        out = self.path(step, "eval")
        self.run(step, [os.path.join(SCRIPTS, "world_model.py"), "eval", "--checkpoint", self.path("world_model.pt"),
                        "--data", data, "--out", out, "--horizons", "1", "8", "32",
                        "--corr-steps", str(min(200, self.scale.collect_steps - 40)), *extra])  # fmt: skip
        with open(os.path.join(out, "report.json")) as f:
            return json.load(f)

    def probe(self) -> dict:
        from ..training.imagination_probe import choose_penalty, probe_imagination

        s = self.scale
        probe = probe_imagination(self.task("Offline"), self.path("data_policy", "model.pt"), self.path("world_model.pt"),
                                  self.path("collect", "dataset.npz"), num_envs=min(s.imagined_envs, 512),
                                  steps=s.probe_steps, seed=self.seed)  # fmt: skip
        lam, finetune_lam = (choose_penalty(probe, share) for share in (OFFLINE_PENALTY_SHARE, FINETUNE_PENALTY_SHARE))
        print(f"[pipeline] data policy in imagination: raw reward {probe['reward_raw']:.4f}/step, u "
              f"{probe['uncertainty']:.3f}; lambda {lam:.4g} offline, {finetune_lam:.4g} finetune (penalty = "
              f"{OFFLINE_PENALTY_SHARE:g} and {FINETUNE_PENALTY_SHARE:g} x raw reward)", flush=True)  # fmt: skip
        return {"data_policy": probe, "lambda": lam, "penalty_share": OFFLINE_PENALTY_SHARE,
                "finetune_lambda": finetune_lam, "finetune_penalty_share": FINETUNE_PENALTY_SHARE}  # fmt: skip

    def _imagination_overrides(self, lam: float) -> list[str]:
        s = self.scale
        return [f"agent.imagination.num_envs={s.imagined_envs}", f"agent.imagination.uncertainty_penalty={lam}",
                f"agent.save_interval={s.save_interval}"]  # fmt: skip

    def train_stage(self, step: str, stage: str, argv: list[str], start: list[str]) -> None:
        """``scripts/train.py --task <stage task> argv`` in ``step``. A run an earlier attempt left (a killed
        pipeline) is continued with ``--resume`` (a finished one is kept); ``start`` only starts a new run."""
        from ..training.stage_state import STATE_FILE, read_state

        root = self.path(step, "logs", "rsl_rl", experiment_name(self.task(stage)))
        runs = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, STATE_FILE))) \
            if os.path.isdir(root) else []  # fmt: skip
        if runs:
            state = read_state(os.path.join(root, runs[-1], STATE_FILE))
            if state["iteration"] >= state["end_iteration"]:
                print(f"[pipeline] {step}: run {runs[-1]} finished before", flush=True)
                return
            start = ["--resume", "--load_run", runs[-1]]
        self.run(step, [os.path.join(SCRIPTS, "train.py"), "--task", self.task(stage), *argv, *start])

    def offline_steps(self) -> list[str]:
        """The offline lane's steps in order: the lambda-0 twin, then one per penalised phase, the last of which
        is ``offline``, the policy that ships."""
        n = len(self.scale.offline_phases)
        return ["offline_lambda0", *[f"offline_phase{k + 1}" for k in range(n - 1)], *(["offline"] if n else [])]

    def side_by_side(self) -> tuple[list[str], list[str]]:
        """The two lanes that run at once: the penalised offline phases, and the finetune followed by the
        uncertainty measurement (:mod:`.shift`; the lambda-0 twin it needs is done by then)."""
        return self.offline_steps()[1:], ["finetune", "uncertainty"]

    def offline(self, step: str, lam: float, iterations: int, start: str | None = None) -> dict:
        """MOPO-PPO on the frozen model, from a fresh policy or from ``start`` (the penalised phases start from
        the lambda-0 policy: see :data:`OFFLINE_PENALTY_SHARE`)."""
        self.train_stage(step, "Offline", [
            "--seed", str(self.seed), "--world_model", self.path("world_model.pt"), "--dataset",
            self.path("collect", "dataset.npz"), "--max_iterations", str(iterations),
            *self._imagination_overrides(lam),
        ], ["--checkpoint", start] if start else [])  # fmt: skip
        return self._final_policy(step, experiment_name(self.task("Offline")), {"lambda": lam, "start": start})

    def finetune(self, lam: float) -> dict:
        """MBPO-PPO from the data policy, with an uncertainty penalty (RWM-U online): without it the policy
        drifted into states the model cannot judge and fell more in real physics."""
        s = self.scale
        self.train_stage("finetune", "Finetune", [
            "--sim", self.sim, "--seed", str(self.seed), "--world_model", self.path("world_model.pt"),
            "--dataset", self.path("collect", "dataset.npz"), "--num_envs", str(s.finetune_real_envs),
            "--max_iterations", str(s.finetune_iterations), *self._imagination_overrides(lam),
        ], ["--checkpoint", self.path("data_policy", "model.pt")])  # fmt: skip
        return self._final_policy("finetune", experiment_name(self.task("Finetune")), {"lambda": lam})

    def _final_policy(self, step: str, experiment: str, extra: dict) -> dict:
        run_dir = self.latest_run(step, experiment)
        copy_file(latest_checkpoint(run_dir), self.path(step, "model.pt"))
        return {"run_dir": run_dir, **extra}

    def evaluate(self, results: dict) -> dict:
        from ..evaluation.report import plot_learning_curve, score_run
        from ..training.imagination_probe import probe_imagination
        from .report import ppo_reaching

        s, out = self.scale, {}
        if results["init"].get("checkpoint"):
            copy_file(results["init"]["checkpoint"], self.path("init", "model.pt"))
        for name in ("init", "data_policy", "offline", "offline_lambda0", "finetune"):
            scores = self.score(name)
            imagined = probe_imagination(self.task("Offline"), self.path(name, "model.pt"), self.path("world_model.pt"),
                                         self.path("collect", "dataset.npz"), num_envs=min(s.imagined_envs, 512),
                                         steps=s.probe_steps, seed=self.seed)  # fmt: skip
            out[name] = {**scores, "imagined_reward_per_second": imagined["reward_per_second"],
                         "imagined_uncertainty": imagined["uncertainty"]}  # fmt: skip
            if name in s.isaaclab_check:
                out[name]["isaaclab"] = self.isaaclab_score(name)
        # model-free PPO from the same start to the finetune's score, both scored alike
        ppo_score = lambda row: self.score(os.path.join("init", "same_gain"), row["checkpoint"])["tracking_score"]  # noqa: E731
        ppo, tried = ppo_reaching(results["init"].get("curve") or [], results["data_policy"].get("iteration"),
                                  out["finetune"]["tracking_score"], ppo_score)  # fmt: skip
        out["ppo_same_gain"] = {"real_transitions": ppo, "tried": tried}
        rows = score_run(results["finetune"]["run_dir"], sim=self.sim, num_envs=s.curve_envs, seconds=s.curve_seconds,
                         seed=self.seed)  # fmt: skip
        plot_learning_curve(rows, f"{self.robot} Finetune (MBPO-PPO), {self.sim}", self.path("finetune", "learning_curve.png"))
        out["finetune_curve"] = rows
        return out

    def isaaclab_score(self, folder: str) -> dict:
        """A short cross-check of the MuJoCo score on kit-less Isaac Lab (8 envs, 10 s), in a child process."""
        target = self.path(folder, "isaaclab")
        if not os.path.isfile(os.path.join(target, "eval.json")):
            self.run(folder, [os.path.join(SCRIPTS, "evaluate.py"), "--task", self.task("Play"), "--checkpoint",
                              self.path(folder, "model.pt"), "--sim", "isaaclab", "--num_envs", "8", "--seconds", "10",
                              "--seed", str(self.seed), "--out", target, "--overwrite"])  # fmt: skip
        with open(os.path.join(target, "eval.json")) as f:
            result = json.load(f)
        return {k: result[k] for k in ("tracking_score", "yaw_tracking_score", "falls_per_env_minute")}

    def settings(self) -> dict:
        return {"robot": self.robot, "scale": self.scale_name, "sim": self.sim, "seed": self.seed, "init": self.init,
                "sizes": asdict(self.scale), "data_policy_band": DATA_POLICY_BAND,
                "penalty_share": {"offline": OFFLINE_PENALTY_SHARE, "finetune": FINETUNE_PENALTY_SHARE}}  # fmt: skip


def _small(report: dict) -> dict:
    """The world-model evaluation's headline figures: error per horizon and group (model and baselines) and
    the uncertainty-error correlation, without the per-window lists."""
    keep = {k: report[k] for k in ("robot", "num_windows", "history", "horizons", "errors") if k in report}
    keep["correlation"] = {k: v for k, v in report.get("correlation", {}).items() if not isinstance(v, list)}
    return keep
