"""The world model's epistemic uncertainty under a policy shift, measured on the pipeline's own policies.

The lambda-0 twin learned in the frozen model with no penalty, so in real physics it goes where the model is
wrong: its real data is the pipeline's out-of-distribution set. Fresh data of the data policy (a new seed,
the collection's own settings) is the in-distribution set. The world-model evaluation of the pair gives the
AUROC of u beside the AUROC of the model's true error, and calibration and u-error correlation on data the
std scale was not fitted on (the world model step fits it on its held-out set and evaluates there too).
"""

from __future__ import annotations

SHIFT_POLICY = "offline_lambda0"
"""The policy whose real data is the shifted set."""


def uncertainty_shift(pipeline) -> dict:
    """Collect the two datasets (heldout-sized, seed + 2) and evaluate the world model on them."""
    from ..training.collect import collect_dataset

    s, data = pipeline.scale, {}
    for name in ("data_policy", SHIFT_POLICY):
        data[name] = pipeline.path("uncertainty", f"{name}.npz")
        collect_dataset(pipeline.task("Init"), pipeline.path(name, "model.pt"), data[name], sim=pipeline.sim,
                        num_envs=s.heldout_envs, steps=s.collect_steps, seed=pipeline.seed + 2,
                        action_noise=s.collect_action_noise)  # fmt: skip
    report = pipeline.evaluate_world_model("uncertainty", data["data_policy"], "--ood-data", data[SHIFT_POLICY],
                                           "--no-plots")  # fmt: skip
    ood = {k: v for k, v in report["ood"].items() if not isinstance(v, list)}
    correlation = {k: v for k, v in report["correlation"].items() if not isinstance(v, list)}
    return {"shift_policy": SHIFT_POLICY, "ood": ood, "calibration": report["calibration"],
            "correlation": correlation, "data": data}  # fmt: skip


def shift_lines(result: dict) -> list[str]:
    """The report's lines: AUROC of u and of the true error, calibration on the fresh in-distribution data."""
    o, lines = result["ood"], []
    lines.append(f"- u separates the {result['shift_policy']} policy's real data from fresh data of the data policy: "
                 f"AUROC {o['auroc']:.3f}; the model's true error does with {o['auroc_of_error']:.3f} (median u "
                 f"{o['test_u_median']:.2f} -> {o['ood_u_median']:.2f}, {o['num_windows']} windows)")  # fmt: skip
    for kind in ("per_head", "ensemble"):
        cal = result["calibration"][kind]
        groups = ", ".join(f"{g} {v:.2f}" for g, v in cal.items() if g != "all")
        lines.append(f"- calibration ({kind.replace('_', ' ')}) on the fresh data: share of one-step errors within "
                     f"+-1 predicted std {cal['all']:.3f} (0.683 for a calibrated Gaussian; {groups})")  # fmt: skip
    return lines
