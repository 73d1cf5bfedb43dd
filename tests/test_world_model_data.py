"""Dataset files, episode boundaries, window sampling and the replay buffer."""

import json

import numpy as np
import pytest
import torch

from rwm_tasks.layout import ANYMAL_D, GO2
from rwm_tasks.world_model.data import (
    DatasetError,
    TransitionData,
    TransitionStore,
    detect_episode_starts,
    load_dataset,
    read_csv,
    read_npz,
    write_csv,
    write_npz,
)
from rwm_tasks.world_model.replay_buffer import ReplayBuffer
from rwm_tasks.world_model.synthetic import synthetic_dataset

torch.set_num_threads(1)  # tiny models: one thread is faster and robust on a shared machine


def reference_like(rows=300, episode=100, seed=0) -> TransitionData:
    """Synthetic ANYmal D rows with the reference recorder's unflagged time-outs: zero joint velocities and
    actions on each episode's first row."""
    data = synthetic_dataset(ANYMAL_D, rows, episode, seed)
    jv = ANYMAL_D.state_slice("joint_vel")
    for s in range(0, rows, episode):
        data.array[s, jv] = 0.0
        data.array[s, ANYMAL_D.column_slices["action"]] = 0.0
    return data


def write_text(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def good_row(layout=ANYMAL_D) -> list[str]:
    return ["0.5"] * layout.num_columns


# --- round trips ---------------------------------------------------------------------------------------------------
def test_csv_round_trip_detects_episode_starts(tmp_path):
    data = reference_like()
    path = tmp_path / "d.csv"
    write_csv(path, data)
    back = read_csv(path, ANYMAL_D)
    assert back.array.shape == (300, 66)
    np.testing.assert_array_equal(back.array, data.array)  # float32 exact with %.9g
    assert back.episode_starts.tolist() == [0, 100, 200]
    assert read_csv(path, ANYMAL_D, detect_starts=False).episode_starts.tolist() == [0]
    assert read_csv(path, ANYMAL_D, episode_length=150).episode_starts.tolist() == [0, 150]
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temp file


def test_go2_csv_has_extension_column(tmp_path):
    data = synthetic_dataset(GO2, 120, 60)
    assert data.array.shape[1] == GO2.num_columns == 67
    write_csv(tmp_path / "g.csv", data)
    back = read_csv(tmp_path / "g.csv", "go2", episode_length=60)
    np.testing.assert_array_equal(back.extension, data.extension)
    assert back.episode_starts.tolist() == [0, 60]


def test_npz_round_trip_keeps_metadata_and_starts(tmp_path):
    data = synthetic_dataset(GO2, 250, 80, seed=3)
    path = tmp_path / "d.npz"
    write_npz(path, data)
    back = read_npz(path)
    assert back.layout is GO2
    np.testing.assert_array_equal(back.array, data.array)
    assert back.episode_starts.tolist() == [0, 80, 160, 240]
    with np.load(path) as z:
        meta = json.loads(str(z["metadata"][()]))
    assert meta["robot"] == "go2" and meta["dt"] == GO2.dt
    assert meta["column_names"] == list(GO2.column_names) and meta["joint_names"] == list(GO2.joint_names)
    assert load_dataset(path).episode_starts.tolist() == [0, 80, 160, 240]


def test_detect_episode_starts_also_after_termination():
    data = reference_like(200, 100)
    data.array[149, ANYMAL_D.column_slices["termination"]] = 1.0
    assert detect_episode_starts(data.array, ANYMAL_D).tolist() == [0, 100, 150]


def test_shared_reference_file_starts(shared_data=None):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "anymal_d_flat_rollout_part1.csv"
    assert path.is_file(), f"shared data missing: {path} (CI clones the repo with ../shared beside it)"
    assert read_csv(path, ANYMAL_D).episode_starts.tolist() == [0, 1000, 2000]


def test_split_makes_cut_an_episode_start():
    data = reference_like(300, 100)
    head, tail = data.split(0.25)
    assert len(head) == 225 and len(tail) == 75
    assert head.episode_starts.tolist() == [0, 100, 200] and tail.episode_starts.tolist() == [0]


# --- windows -------------------------------------------------------------------------------------------------------
def test_windows_never_cross_episode_starts():
    data = synthetic_dataset(ANYMAL_D, 500, 1)  # placeholder, replaced below
    starts = np.array([0, 37, 50, 180, 181, 300, 460])
    data = TransitionData(data.array, starts, ANYMAL_D)
    store = TransitionStore(data, window=40)
    episode = np.searchsorted(starts, np.arange(500), side="right")
    valid = [i for i in range(500 - 39) if episode[i] == episode[i + 39]]
    assert sorted(store.window_starts.tolist()) == valid
    batch = store.sample(512, torch.Generator().manual_seed(0))
    assert batch.states.shape == (512, 40, 45) and batch.contacts.shape == (512, 40, 8)
    # rows of a window are consecutive rows of one episode
    rows = torch.as_tensor(data.array)
    first = batch.states[:, 0]
    idx = [(rows[:, :45] == f).all(1).nonzero()[0, 0].item() for f in first[:20]]
    for i, w in zip(idx, batch.states[:20]):
        assert episode[i] == episode[i + 39]
        assert torch.equal(w, rows[i : i + 40, :45])


def test_store_across_files_and_normalization_tensors():
    a, b = synthetic_dataset(ANYMAL_D, 100, 50, 0), synthetic_dataset(ANYMAL_D, 60, 60, 1)
    store = TransitionStore([a, b], window=50)
    assert sorted(store.window_starts.tolist()) == [0, 50] + list(range(100, 111))  # none spans a boundary
    norm = store.normalization_tensors()
    assert norm["deltas"].shape == (160 - 3, 45)  # 3 episode boundaries excluded
    assert store.flag_rates()["termination"].shape == (1,)


@pytest.mark.parametrize("layout", [GO2, ANYMAL_D], ids=["go2", "anymal_d"])
def test_left_right_mirror_swaps_sides_and_keeps_the_default_pose(layout):
    """Mirroring twice is the identity; left and right legs swap, abduction joints flip, and the default pose
    (zero in the state's joint_pos - default) stays the default pose."""
    source, sign = layout.mirror_index()
    assert sorted(source) == list(range(layout.num_columns))
    store = TransitionStore(synthetic_dataset(layout, 40, 40, 0), window=40)
    batch = store.get(torch.tensor([0]))
    once = batch.mirrored(layout, torch.tensor([True]))
    twice = once.mirrored(layout, torch.tensor([True]))
    torch.testing.assert_close(twice.columns(), batch.columns())
    col = {n: i for i, n in enumerate(layout.state_names)}

    def moved(name: str, factor: float) -> None:
        group, joint = name.split("/")
        there = f"{group}/{layout.mirror_name(joint)}"
        torch.testing.assert_close(once.states[..., col[there]], factor * batch.states[..., col[name]])

    left, right = layout.mirror_legs[0]
    abduction = next(j for j in layout.joint_names if j.startswith(left) and layout.abduction_joint in j)
    moved(f"joint_pos/{abduction}", -1.0)
    moved(f"joint_vel/{abduction}", -1.0)
    moved(f"joint_pos/{layout.joint_names[-1]}", 1.0)  # a knee
    for name, factor in (("base_lin_vel/x", 1.0), ("base_lin_vel/y", -1.0), ("base_ang_vel/y", 1.0),
                         ("base_ang_vel/z", -1.0), ("projected_gravity/y", -1.0)):  # fmt: skip
        moved(name, factor)
    torch.testing.assert_close(once.terminations, batch.terminations)
    body = {n: i for i, n in enumerate(layout.contact_bodies)}
    foot = layout.foot_bodies[0]
    assert torch.equal(once.contacts[..., body[layout.mirror_name(foot)]], batch.contacts[..., body[foot]])
    # the default pose in absolute angles mirrors onto itself
    jp = layout.state_slice("joint_pos")
    default = torch.tensor(layout.default_joint_pos)
    absolute = batch.states[..., jp] + default
    expected = absolute[..., torch.tensor(source[jp]) - jp.start] * torch.tensor(sign[jp])
    torch.testing.assert_close(once.states[..., jp] + default, expected)
    assert layout.mirror_name(f"{right}_x") == f"{left}_x" and layout.mirror_name("base") == "base"


def test_mirrored_batch_changes_only_the_chosen_windows():
    store = TransitionStore(synthetic_dataset(GO2, 200, 100, 1), window=20)
    batch = store.sample(6, torch.Generator().manual_seed(0))
    which = torch.tensor([True, False, True, False, False, True])
    out = batch.mirrored(GO2, which)
    assert torch.equal(out.keys, batch.keys)
    for i, w in enumerate(which):
        assert torch.equal(out.states[i], batch.states[i]) != bool(w)
        assert torch.equal(out.actions[i], batch.actions[i]) != bool(w)
    torch.testing.assert_close(out.extension, batch.extension)  # base height has no side


# --- replay buffer -------------------------------------------------------------------------------------------------
def _step(t, e=3, layout=ANYMAL_D):
    states = torch.full((e, layout.state_dim), float(t)) + torch.arange(e).view(-1, 1) * 1000
    return states, torch.zeros(e, layout.action_dim), torch.zeros(e, layout.contact_dim), torch.zeros(e)


def test_replay_buffer_ring_and_episode_boundaries():
    buf = ReplayBuffer(ANYMAL_D, num_envs=3, capacity_per_env=20, window=5)
    with pytest.raises(ValueError):
        buf.sample(4)
    for t in range(30):  # wraps: keeps steps 10..29
        start = torch.tensor([t == 14, False, t == 22])
        buf.add(*_step(t), episode_start=start)
    assert len(buf) == 60 and buf.size == 20
    batch = buf.sample(2000, torch.Generator().manual_seed(0))
    steps = batch.states[..., 0] % 1000
    env = (batch.states[:, 0, 0] // 1000).long()
    assert torch.all(steps[:, 1:] - steps[:, :-1] == 1)  # consecutive, never over the ring's seam
    assert steps.min() >= 10
    for e, start in ((0, 14), (2, 22)):
        s = steps[env == e]
        assert not torch.any((s[:, 0] < start) & (s[:, -1] >= start))  # never crosses a start
    # env 0: windows from 10..13 cannot fit (only 4 rows before the start at 14)
    assert (steps[env == 0, 0] < 14).sum() == 0
    assert buf.num_windows == (20 - 5 + 1) + (20 - 5 + 1) - 4 + (20 - 5 + 1) - 4


def test_replay_buffer_statistics_and_training_from_it():
    from rwm_tasks.world_model.train import Trainer, TrainConfig, make_model

    buf = ReplayBuffer(ANYMAL_D, num_envs=2, capacity_per_env=30, window=10)
    for t in range(40):
        states, actions, contacts, term = _step(t, 2)
        contacts[:, -1] = 1.0
        buf.add(states, actions, contacts, term, episode_start=torch.tensor([t == 25, False]))
    stats = buf.normalization_tensors()
    assert stats["states"].shape == (60, 45) and stats["deltas"].shape == (2 * 29 - 1, 45)
    assert torch.all(stats["deltas"] == 1.0)  # consecutive steps only, never across the start at t = 25
    assert buf.flag_rates()["contact"].tolist() == [0.0] * 7 + [1.0]
    model = make_model(ANYMAL_D, hidden_dim=16, num_layers=1, num_heads=2, head_hidden_dims=(8,))
    model.fit_normalization(**stats)
    trainer = Trainer.for_store(model, TrainConfig(history=6, forecast=4, batch_size=8), buf)
    assert torch.isfinite(torch.tensor(trainer.update(buf)["loss"]))


def test_replay_buffer_termination_starts_next_episode_and_go2_extension():
    buf = ReplayBuffer(GO2, num_envs=1, capacity_per_env=10, window=3)
    for t in range(8):
        s, a, c, term = _step(t, 1, GO2)
        term[:] = float(t == 3)
        buf.add(s, a, c, term, extension=torch.full((1, 1), 0.3))
    steps = buf.sample(500, torch.Generator().manual_seed(0)).states[..., 0]
    assert not torch.any((steps[:, 0] <= 3) & (steps[:, -1] >= 4))
    with pytest.raises(ValueError):
        buf.add(*_step(9, 1, GO2))  # Go2 needs its extension column


# --- bad files -----------------------------------------------------------------------------------------------------
def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_csv(tmp_path / "nope.csv", ANYMAL_D)
    for text in ("", "\n\n  \n"):
        with pytest.raises(DatasetError, match=r"empty\.csv: file is empty"):
            read_csv(write_text(tmp_path, text, "empty.csv"), ANYMAL_D)


def test_wrong_column_count_names_row(tmp_path):
    rows = [",".join(good_row())] * 3 + [",".join(good_row()[:-2])]
    with pytest.raises(DatasetError, match=r"bad\.csv: row 3 \(line 4\) has 64 columns, expected 66"):
        read_csv(write_text(tmp_path, "\n".join(rows)), ANYMAL_D)


def test_other_robot_layout_is_named(tmp_path):
    rows = [",".join(good_row(GO2))] * 50
    message = r"67 columns, expected 66 for robot 'anymal_d' \(that is the layout of robot 'go2'\)"
    with pytest.raises(DatasetError, match=message):
        read_csv(write_text(tmp_path, "\n".join(rows)), ANYMAL_D)
    write_npz(tmp_path / "go2.npz", synthetic_dataset(GO2, 50, 50))
    with pytest.raises(DatasetError, match=r"go2\.npz.*different layout: 'robot' is 'go2'"):
        read_npz(tmp_path / "go2.npz", ANYMAL_D)


def test_non_numeric_cell_names_row_and_column(tmp_path):
    rows = [good_row() for _ in range(5)]
    rows[2][47] = "abc"
    with pytest.raises(DatasetError, match=r"row 2 \(line 3\), column 47 \(action/RF_HAA\): 'abc' is not a number"):
        read_csv(write_text(tmp_path, "\n".join(",".join(r) for r in rows)), ANYMAL_D)
    header = ",".join(ANYMAL_D.column_names)
    with pytest.raises(DatasetError, match=r"row 0 \(line 1\), column 0 .*is not a number"):
        read_csv(write_text(tmp_path, header + "\n" + ",".join(good_row())), ANYMAL_D)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_values_rejected(tmp_path, value):
    rows = [good_row() for _ in range(4)]
    rows[1][5] = value
    with pytest.raises(DatasetError, match=r"row 1 \(line 2\), column 5 \(base_ang_vel/z\): value .* is not finite"):
        read_csv(write_text(tmp_path, "\n".join(",".join(r) for r in rows)), ANYMAL_D)


def test_non_binary_flag_rejected(tmp_path):
    rows = [good_row() for _ in range(4)]
    for r in rows:
        r[57:66] = ["0"] * 9
    rows[3][60] = "0.5"
    message = r"row 3 \(line 4\), column 60 \(contact/RH_THIGH\): contact flag 0.5 is not 0 or 1"
    with pytest.raises(DatasetError, match=message):
        read_csv(write_text(tmp_path, "\n".join(",".join(r) for r in rows)), ANYMAL_D)


def test_too_short_for_one_window(tmp_path):
    data = reference_like(60, 30)
    write_csv(tmp_path / "short.csv", data)
    with pytest.raises(DatasetError, match=r"short\.csv: too short for one window of 40 rows.*longest episode 30 rows"):
        load_dataset(tmp_path / "short.csv", ANYMAL_D, min_window=40)
    with pytest.raises(DatasetError, match="too short for one window"):
        TransitionStore(read_csv(tmp_path / "short.csv", ANYMAL_D), window=40)
    assert len(load_dataset(tmp_path / "short.csv", ANYMAL_D, min_window=30)) == 60


def test_bad_npz_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"junk\.npz: not a readable \.npz"):
        read_npz(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(DatasetError, match="missing arrays"):
        read_npz(tmp_path / "other.npz")
    data = synthetic_dataset(ANYMAL_D, 50, 50)
    meta = {"format": "rwm_tasks/transitions", "format_version": 99, "robot": "anymal_d"}
    arrays = dict(data=data.array, episode_starts=np.zeros(1, np.int64), metadata=np.array(json.dumps(meta)))
    np.savez(tmp_path / "new.npz", **arrays)
    with pytest.raises(DatasetError, match="format version 99 is newer"):
        read_npz(tmp_path / "new.npz")
    bad = data.array.copy()
    bad[7, 3] = np.nan
    write_npz(tmp_path / "nan.npz", TransitionData(data.array, [0], ANYMAL_D))
    with np.load(tmp_path / "nan.npz") as z:
        arrays = dict(z)
    arrays["data"] = bad
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(DatasetError, match=r"nan\.npz: row 7, column 3 .* not finite"):
        read_npz(tmp_path / "nan.npz")


def test_csv_needs_a_layout(tmp_path):
    write_csv(tmp_path / "d.csv", reference_like(50, 50))
    with pytest.raises(DatasetError, match="carries no robot"):
        load_dataset(tmp_path / "d.csv")
