"""Watch a policy on the MuJoCo executor: an mp4 of one env (offscreen EGL) and a velocity-vs-command plot.

``record(env, policy, steps, out_path)`` is what ``scripts/play.py --sim mujoco --video out.mp4`` calls. The
video needs an offscreen OpenGL (EGL; set ``MUJOCO_GL=osmesa`` for software rendering) and
``imageio-ffmpeg``; where either is missing the plot is still written and the reason printed.
"""

from __future__ import annotations

import os
import pathlib

import mujoco
import numpy as np
import torch

from ...world_model.files import save_figure, temp_path


def _renderer(model: mujoco.MjModel, width: int, height: int):
    """A ``mujoco.Renderer``, switching to EGL when no display exists and ``MUJOCO_GL`` is unset."""
    if not os.environ.get("MUJOCO_GL") and not os.environ.get("DISPLAY"):
        from mujoco import egl
        from mujoco.rendering.classic import gl_context

        gl_context.GLContext = egl.GLContext  # mujoco chose GLFW at import; GLFW needs a display
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    return mujoco.Renderer(model, height=height, width=width)


def _plot(times, vel, cmd, path: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    for ax, k, label in zip(axes, range(3), ("lin vel x [m/s]", "lin vel y [m/s]", "ang vel z [rad/s]")):
        ax.plot(times, vel[:, k], label="base (base frame)")
        ax.plot(times, cmd[:, k], "--", label="command")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[0].set_title(title)
    axes[-1].set_xlabel("time [s]")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


class FrameRecorder:
    """Writes frames of one env of a :class:`MujocoVecEnv` to an mp4 (camera following the base).

    Where EGL or the encoder is missing, :attr:`reason` says why and :meth:`capture` does nothing.
    """

    def __init__(self, env, out_path: str, env_index: int = 0, width: int = 640, height: int = 480):
        self.env, self.env_index, self.path = env, env_index, str(out_path)
        self.renderer, self.writer, self.reason = None, None, ""
        try:
            import imageio_ffmpeg

            self.renderer = _renderer(env.model, width, height)
            self.writer = imageio_ffmpeg.write_frames(
                str(temp_path(self.path)), (width, height), fps=round(1.0 / env.step_dt), codec="libx264",
                pix_fmt_out="yuv420p", macro_block_size=16,
            )  # fmt: skip
            self.writer.send(None)
        except Exception as err:  # no EGL / no encoder: no video
            self.reason = f"{type(err).__name__}: {err}"
            self.close()
            print(f"[rwm_tasks] no video ({self.reason})")
            return
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.distance = 3.0 * float(env.state.root_pos[env_index, 2]) + 0.6
        self.camera.elevation, self.camera.azimuth = -15.0, 120.0
        self.model = env.batch.get_model(env_index)

    @property
    def video(self) -> str | None:
        return self.path if not self.reason else None

    def capture(self) -> None:
        if self.writer is None:
            return
        data = self.env.batch.get_data(self.env_index)
        mujoco.mj_kinematics(self.model, data)
        self.camera.lookat[:] = data.qpos[:3]
        self.renderer.update_scene(data, self.camera)
        self.writer.send(np.ascontiguousarray(self.renderer.render()))

    def close(self) -> None:
        """Finish the video and move it into place (it is written beside ``path`` until complete)."""
        tmp = temp_path(self.path)
        if self.writer is not None:
            self.writer.close()
            if not self.reason:
                os.replace(tmp, self.path)
        if tmp.exists():
            tmp.unlink()
        if self.renderer is not None:
            self.renderer.close()
        self.writer = self.renderer = None


def record(env, policy, steps: int, out_path: str, env_index: int = 0, width: int = 640, height: int = 480) -> dict:
    """Run ``policy`` (TensorDict obs -> actions) for ``steps`` env steps on a :class:`MujocoVecEnv`.

    Writes ``out_path`` (mp4 of env ``env_index``, camera following the base) and ``<stem>_velocity.png``
    (base velocity vs command). Returns ``{"video": path or None, "plot": path, "reason": why no video}``.
    """
    out = pathlib.Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_path = out.with_name(out.stem + "_velocity.png")
    frames = FrameRecorder(env, str(out), env_index, width, height)
    vel, cmd = [], []
    obs = env.get_observations()
    try:
        with torch.inference_mode():
            for _ in range(steps):
                obs, _, _, _ = env.step(policy(obs))
                s = env.state
                vel.append([*s.lin_vel_b[env_index, :2].tolist(), float(s.ang_vel_b[env_index, 2])])
                cmd.append(env.command.command[env_index].tolist())
                frames.capture()
    finally:
        frames.close()
    times = np.arange(1, len(vel) + 1) * env.step_dt
    _plot(times, np.asarray(vel), np.asarray(cmd), plot_path, f"{env.task}: env {env_index}")
    return {"video": frames.video, "plot": str(plot_path), "reason": frames.reason}
