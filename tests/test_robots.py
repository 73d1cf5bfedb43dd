"""Robot descriptions: one parameter source for MuJoCo and the Isaac Lab stand-in USD."""

import mujoco
import numpy as np
import pytest

from rwm_tasks.layout import get_layout
from rwm_tasks.robots import get_description
from rwm_tasks.robots.usd import write_ground_plane_usd, write_robot_usd


@pytest.mark.parametrize("robot", ["go2", "anymal_d"])
def test_description_has_layout_bodies_and_joints(robot):
    desc, layout = get_description(robot), get_layout(robot)
    model = mujoco.MjModel.from_xml_string(desc.to_mjcf())
    bodies = {model.body(i).name for i in range(model.nbody)}
    assert set(layout.contact_bodies) | {layout.base_body} <= bodies
    joints = [model.joint(j).name for j in range(1, model.njnt)]
    assert sorted(joints) == sorted(layout.joint_names)
    assert [model.actuator(a).name for a in range(model.nu)] == joints
    assert len(layout.default_joint_pos) == layout.num_joints


@pytest.mark.parametrize("robot, mass", [("go2", 15.2), ("anymal_d", 57.1)])
def test_mass_matches_reference_description(robot, mass):
    model = mujoco.MjModel.from_xml_string(get_description(robot).to_mjcf())
    assert model.body_subtreemass[1] == pytest.approx(mass, abs=0.1)


@pytest.mark.parametrize("robot, height", [("go2", 0.324), ("anymal_d", 0.589)])
def test_standing_height_of_default_pose(robot, height):
    assert get_description(robot).standing_height() == pytest.approx(height, abs=0.005)


@pytest.mark.parametrize("robot", ["go2", "anymal_d"])
def test_usd_carries_the_same_bodies_masses_and_joints(robot, tmp_path):
    from pxr import Usd, UsdPhysics

    desc = get_description(robot)
    path = write_robot_usd(desc, tmp_path / f"{robot}.usda")
    stage = Usd.Stage.Open(str(path))
    model = mujoco.MjModel.from_xml_string(desc.to_mjcf(floor=False))
    for b in range(1, model.nbody):
        prim = stage.GetPrimAtPath(f"/Robot/{model.body(b).name}")
        assert prim.HasAPI(UsdPhysics.RigidBodyAPI)
        assert UsdPhysics.MassAPI(prim).GetMassAttr().Get() == pytest.approx(model.body_mass[b], rel=1e-6)
    revolute = [p for p in stage.Traverse() if p.IsA(UsdPhysics.RevoluteJoint)]
    assert sorted(p.GetName() for p in revolute) == sorted(get_layout(robot).joint_names)
    for p in revolute:  # limits in degrees, from the description's radians
        j = model.joint(p.GetName())
        assert UsdPhysics.RevoluteJoint(p).GetLowerLimitAttr().Get() == pytest.approx(np.degrees(j.range[0]), rel=1e-5)
    assert stage.GetDefaultPrim().HasAPI(UsdPhysics.ArticulationRootAPI)
    assert not list(tmp_path.glob("*.usda.tmp*")) and len(list(tmp_path.iterdir())) == 1  # atomic write


def test_ground_plane_has_collision_and_friction(tmp_path):
    from pxr import Usd, UsdPhysics

    stage = Usd.Stage.Open(str(write_ground_plane_usd(tmp_path / "ground.usda", 0.9, 0.7)))
    plane = stage.GetPrimAtPath("/GroundPlane/CollisionPlane")
    assert plane.GetTypeName() == "Plane" and plane.HasAPI(UsdPhysics.CollisionAPI)
    material = UsdPhysics.MaterialAPI(stage.GetPrimAtPath("/GroundPlane/PhysicsMaterial"))
    assert material.GetStaticFrictionAttr().Get() == pytest.approx(0.9)
