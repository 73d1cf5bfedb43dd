"""Author the Isaac Lab stand-in USD of a robot description, and a local ground plane.

The USD is written from the MuJoCo model compiled from the description's MJCF, so the USD and the MuJoCo
executor share every number (frames, masses, inertias, joint axes and limits, collision primitives).
Layout follows Isaac Lab's robot assets: one flat level of rigid bodies under the root prim, so the
contact sensor pattern ``{ENV_REGEX_NS}/Robot/[^/]*`` finds base, thighs and feet by name; each joint
lives under its child body. Written with ``usd-core`` (``pxr``) only.
"""

from __future__ import annotations

import math
import os
import pathlib
import tempfile

import numpy as np

from .description import RobotDescription

FORMAT_VERSION = 1
"""Bump when the authored USD changes, so cached files are rebuilt."""


def _quat_wxyz_to_gf(q):
    from pxr import Gf

    return Gf.Quatf(float(q[0]), Gf.Vec3f(float(q[1]), float(q[2]), float(q[3])))


def _set_pose(xformable, pos, quat_wxyz):
    from pxr import Gf, UsdGeom

    xformable.ClearXformOpOrder()
    xformable.AddTranslateOp(UsdGeom.XformOp.PrecisionDouble).Set(Gf.Vec3d(*map(float, pos)))
    xformable.AddOrientOp(UsdGeom.XformOp.PrecisionFloat).Set(_quat_wxyz_to_gf(quat_wxyz))


def _rot_from_z(direction) -> np.ndarray:
    """Quaternion (w, x, y, z) rotating +z onto ``direction``."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    z = np.array([0.0, 0.0, 1.0])
    c = float(np.dot(z, d))
    if c < -0.999999:
        return np.array([0.0, 1.0, 0.0, 0.0])
    axis = np.cross(z, d)
    q = np.array([1.0 + c, *axis])
    return q / np.linalg.norm(q)


def _new_stage(path, root_path: str):
    """A Z-up, metre/kilogram stage in a temporary file beside ``path`` with its default prim at
    ``root_path``; :func:`_save` moves it into place."""
    from pxr import Usd, UsdGeom, UsdPhysics

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(suffix=".usda", dir=path.parent, delete=False).name
    stage = Usd.Stage.CreateNew(tmp)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdPhysics.SetStageKilogramsPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, root_path)
    stage.SetDefaultPrim(root.GetPrim())
    root.GetPrim().SetCustomDataByKey("rwm_tasks:format_version", FORMAT_VERSION)
    return stage, root, tmp


def _save(stage, tmp: str, path) -> pathlib.Path:
    stage.GetRootLayer().Save()
    os.replace(tmp, path)
    return pathlib.Path(path)


def write_robot_usd(desc: RobotDescription, path: str | os.PathLike) -> pathlib.Path:
    """Write ``desc`` as a USD articulation at ``path`` (atomic: temp file then rename)."""
    import mujoco
    from pxr import Gf, UsdGeom, UsdPhysics

    model = mujoco.MjModel.from_xml_string(desc.to_mjcf(floor=False))
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    root_xpos = data.xpos[1].copy()

    stage, root, tmp = _new_stage(path, "/Robot")
    UsdPhysics.ArticulationRootAPI.Apply(root.GetPrim())

    body_paths = {}  # body id -> prim path
    for b in range(1, model.nbody):
        name = model.body(b).name
        prim_path = f"/Robot/{name}"
        body_paths[b] = prim_path
        xf = UsdGeom.Xform.Define(stage, prim_path)
        # bodies are authored at the zero joint configuration relative to the root prim
        _set_pose(xf, data.xpos[b] - root_xpos, data.xquat[b])
        prim = xf.GetPrim()
        UsdPhysics.RigidBodyAPI.Apply(prim)
        mass = UsdPhysics.MassAPI.Apply(prim)
        mass.CreateMassAttr(float(model.body_mass[b]))
        mass.CreateCenterOfMassAttr(Gf.Vec3f(*map(float, model.body_ipos[b])))
        mass.CreateDiagonalInertiaAttr(Gf.Vec3f(*map(float, model.body_inertia[b])))
        mass.CreatePrincipalAxesAttr(_quat_wxyz_to_gf(model.body_iquat[b]))
        geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] == b]
        if geoms:
            UsdGeom.Xform.Define(stage, f"{prim_path}/collisions")
        for g in geoms:
            _write_geom(stage, f"{prim_path}/collisions/{model.geom(g).name}", model, g)

    for j in range(model.njnt):
        b = int(model.jnt_bodyid[j])
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            continue
        _write_revolute(stage, model, j, body_paths[int(model.body_parentid[b])], body_paths[b], data)
    for b in range(2, model.nbody):  # welded bodies (feet) get fixed joints
        if model.body_jntnum[b] == 0:
            _write_fixed(stage, model, data, body_paths[int(model.body_parentid[b])], body_paths[b])
    return _save(stage, tmp, path)


def _write_geom(stage, prim_path, model, g):
    import mujoco
    from pxr import Gf, UsdGeom, UsdPhysics

    kind = model.geom_type[g]
    size = model.geom_size[g]
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        geom = UsdGeom.Cube.Define(stage, prim_path)
        geom.CreateSizeAttr(2.0)
        _set_pose(geom, model.geom_pos[g], model.geom_quat[g])
        geom.AddScaleOp().Set(Gf.Vec3f(*map(float, size)))
    elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        geom = UsdGeom.Sphere.Define(stage, prim_path)
        geom.CreateRadiusAttr(float(size[0]))
        _set_pose(geom, model.geom_pos[g], model.geom_quat[g])
    elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        geom = UsdGeom.Capsule.Define(stage, prim_path)  # MuJoCo capsules lie along the local z axis
        geom.CreateAxisAttr("Z")
        geom.CreateRadiusAttr(float(size[0]))
        geom.CreateHeightAttr(float(2.0 * size[1]))
        _set_pose(geom, model.geom_pos[g], model.geom_quat[g])
    else:
        raise ValueError(f"geom type {kind} of '{model.geom(g).name}' has no USD stand-in")
    UsdPhysics.CollisionAPI.Apply(geom.GetPrim())


def _joint_frames(model, data, parent_path, child_path, anchor_world, stage):
    """Joint frame poses in parent and child body frames for a joint anchored at ``anchor_world``."""
    from pxr import Gf

    def local(path):
        b = model.body(path.rsplit("/", 1)[1]).id
        rot = data.xmat[b].reshape(3, 3)
        return rot.T @ (anchor_world - data.xpos[b]), data.xquat[b]

    p0, q0 = local(parent_path)
    p1, q1 = local(child_path)
    # body frames are aligned with the root at the zero configuration, so the joint frame is identity in
    # both bodies up to the bodies' own rotation (identity for the project's descriptions)
    return Gf.Vec3f(*map(float, p0)), Gf.Vec3f(*map(float, p1)), q0, q1


def _write_revolute(stage, model, j, parent_path, child_path, data):
    from pxr import Gf, Sdf, UsdPhysics

    b = int(model.jnt_bodyid[j])
    anchor = data.xpos[b] + data.xmat[b].reshape(3, 3) @ model.jnt_pos[j]
    p0, p1, _, _ = _joint_frames(model, data, parent_path, child_path, anchor, stage)
    axis = data.xmat[b].reshape(3, 3) @ model.jnt_axis[j]
    # USD revolute joints turn about a principal axis of the joint frame: rotate that frame so the
    # joint's axis becomes its local X (same rotation on both sides keeps the bodies' relative pose).
    names = {(1, 0, 0): "X", (0, 1, 0): "Y", (0, 0, 1): "Z"}
    key = tuple(int(round(a)) for a in axis)
    if key in names:
        token, rot = names[key], Gf.Quatf(1.0)
    elif tuple(-k for k in key) in names:  # negative axis: flip the frame about an orthogonal axis
        token = names[tuple(-k for k in key)]
        flip = {"X": (0, 0, 1), "Y": (0, 0, 1), "Z": (1, 0, 0)}[token]
        rot = Gf.Quatf(0.0, Gf.Vec3f(*flip))
    else:
        raise ValueError(f"joint '{model.joint(j).name}' axis {axis} is not along a principal axis")
    joint = UsdPhysics.RevoluteJoint.Define(stage, f"{child_path}/{model.joint(j).name}")
    joint.CreateBody0Rel().SetTargets([Sdf.Path(parent_path)])
    joint.CreateBody1Rel().SetTargets([Sdf.Path(child_path)])
    joint.CreateLocalPos0Attr(p0)
    joint.CreateLocalPos1Attr(p1)
    joint.CreateLocalRot0Attr(rot)
    joint.CreateLocalRot1Attr(rot)
    joint.CreateAxisAttr(token)
    lo, hi = (math.degrees(v) for v in model.jnt_range[j])
    joint.CreateLowerLimitAttr(float(lo))
    joint.CreateUpperLimitAttr(float(hi))
    drive = UsdPhysics.DriveAPI.Apply(joint.GetPrim(), "angular")
    drive.CreateTypeAttr("force")
    drive.CreateStiffnessAttr(0.0)
    drive.CreateDampingAttr(0.0)


def _write_fixed(stage, model, data, parent_path, child_path):
    from pxr import Gf, Sdf, UsdPhysics

    anchor = data.xpos[model.body(child_path.rsplit("/", 1)[1]).id]
    p0, p1, _, _ = _joint_frames(model, data, parent_path, child_path, anchor, stage)
    joint = UsdPhysics.FixedJoint.Define(stage, f"{child_path}/{child_path.rsplit('/', 1)[1]}_fixed")
    joint.CreateBody0Rel().SetTargets([Sdf.Path(parent_path)])
    joint.CreateBody1Rel().SetTargets([Sdf.Path(child_path)])
    joint.CreateLocalPos0Attr(p0)
    joint.CreateLocalPos1Attr(p1)
    joint.CreateLocalRot0Attr(Gf.Quatf(1.0))
    joint.CreateLocalRot1Attr(Gf.Quatf(1.0))


def write_ground_plane_usd(path: str | os.PathLike, static_friction=1.0, dynamic_friction=1.0) -> pathlib.Path:
    """A flat collision plane with a physics material, replacing Isaac Lab's cloud ground asset."""
    from pxr import UsdGeom, UsdPhysics, UsdShade

    stage, root, tmp = _new_stage(path, "/GroundPlane")
    plane = UsdGeom.Plane.Define(stage, "/GroundPlane/CollisionPlane")
    plane.CreateAxisAttr("Z")
    plane.CreateWidthAttr(200.0)
    plane.CreateLengthAttr(200.0)
    UsdPhysics.CollisionAPI.Apply(plane.GetPrim())
    material = UsdShade.Material.Define(stage, "/GroundPlane/PhysicsMaterial")
    mat_api = UsdPhysics.MaterialAPI.Apply(material.GetPrim())
    mat_api.CreateStaticFrictionAttr(float(static_friction))
    mat_api.CreateDynamicFrictionAttr(float(dynamic_friction))
    mat_api.CreateRestitutionAttr(0.0)
    UsdShade.MaterialBindingAPI.Apply(plane.GetPrim()).Bind(
        material, UsdShade.Tokens.weakerThanDescendants, "physics"
    )
    return _save(stage, tmp, path)
