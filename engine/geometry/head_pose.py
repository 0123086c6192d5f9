"""Head pose that follows: the driver's head motion since its neutral, put onto the target's mesh.

The driver's motion is the 3D similarity of its rigid FaceMesh vertices (engine.geometry.pose)
from the neutral reference to the current frame, read as roll, yaw, pitch, a scale and the shift
of the rigid vertices' centroid in inter-ocular distances (IOD). On the target, the driven mesh
(retargeted, 2-D) is lifted to 3-D with the target photo's own FaceMesh depth, turned and scaled
about the target's rigid centroid, shifted by the same number of target IODs and projected
orthographically (FaceMesh z is in the pixel scale of x, engine.types.Face).

The out-of-plane part of the motion (what yaw and pitch add to the in-plane roll, scale and
shift) tapers to nothing at the face's outline: the outline of a turning head stays its outline
(the outline's own vertices would go behind the head), and the steep sides of the mesh would
otherwise fold over the warp's triangles (see OUTLINE_TAPER).

Axes are the image's: x right, y down, z away from the camera (right-handed). Roll is a turn
about z (positive: clockwise on screen, the eye line's angle atan2(dy, dx) grows), yaw about y,
pitch about x; the rotation is ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.face.ibug68 import MESH_TO_IBUG68
from engine.geometry.align import similarity
from engine.geometry.faceframe import FaceFrame
from engine.geometry.pose import RIGID_MESH, similarity3d

MAX_ANGLE_DEG = 20.0  # each of roll, yaw and pitch is clamped to +- this before it is applied
# Out-of-plane motion is whole up to this fraction of the way to the outline. The folds do not
# grow from 0.6 to 0.9 (London, yaw/pitch +-20: 52 px^2 turned over per pose, the nose's own
# occlusion) and the yaw MediaPipe reads back on the warped photo does (20 -> 5 and 6.5 deg); at
# 0.95 the folds triple, without a taper they are 18 times as large (930 px^2).
OUTLINE_TAPER = 0.9


@dataclass(frozen=True)
class HeadPose:
    """The driver's head relative to its neutral: roll, yaw, pitch in degrees (see the module
    docstring for the axes), scale (1 = as at neutral) and shift (dx, dy) of the rigid centroid in
    the neutral's IODs (image axes)."""

    roll: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)

    def clamped(self, limit: float = MAX_ANGLE_DEG) -> "HeadPose":
        """The same pose with each angle limited to +- ``limit`` degrees."""
        roll, yaw, pitch = (float(np.clip(a, -limit, limit)) for a in (self.roll, self.yaw, self.pitch))
        return HeadPose(roll, yaw, pitch, self.scale, self.shift)

    def rotation(self) -> np.ndarray:
        """(3, 3) ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
        r, y, p = np.radians([self.roll, self.yaw, self.pitch])
        rz = np.array([[np.cos(r), -np.sin(r), 0.0], [np.sin(r), np.cos(r), 0.0], [0.0, 0.0, 1.0]])
        ry = np.array([[np.cos(y), 0.0, np.sin(y)], [0.0, 1.0, 0.0], [-np.sin(y), 0.0, np.cos(y)]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(p), -np.sin(p)], [0.0, np.sin(p), np.cos(p)]])
        return rz @ ry @ rx


def euler_deg(rotation: np.ndarray) -> tuple[float, float, float]:
    """(roll, yaw, pitch) degrees of a (3, 3) rotation ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    roll = np.arctan2(r[1, 0], r[0, 0])
    return float(np.degrees(roll)), float(np.degrees(yaw)), float(np.degrees(pitch))


def iod_of(mesh: np.ndarray) -> float:
    """Inter-ocular distance (pixels) of a (478, 2+) FaceMesh."""
    return FaceFrame.of(np.asarray(mesh)[list(MESH_TO_IBUG68), :2]).iod


def measure_pose(neutral3d: np.ndarray, current3d: np.ndarray) -> HeadPose:
    """The head motion from ``neutral3d`` to ``current3d``, both (478, 3) FaceMesh points (x, y
    pixels, z), unclamped."""
    idx = list(RIGID_MESH)
    neutral = np.asarray(neutral3d, dtype=np.float64)
    current = np.asarray(current3d, dtype=np.float64)
    scale, rot, _ = similarity3d(neutral[idx], current[idx])
    roll, yaw, pitch = euler_deg(rot)
    shift = (current[idx, :2].mean(0) - neutral[idx, :2].mean(0)) / iod_of(neutral)
    return HeadPose(roll, yaw, pitch, scale, (float(shift[0]), float(shift[1])))


def outline_weight(mesh: np.ndarray) -> np.ndarray:
    """(478,) weight of the out-of-plane motion per vertex of ``mesh`` (478, 2): 1 up to
    OUTLINE_TAPER of the way from the centre to the outline (the mesh's convex hull, along each
    vertex's own ray), falling quadratically to 0 on the outline."""
    mesh = np.asarray(mesh, dtype=np.float64)
    hull = cv2.convexHull(mesh.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    centre = hull.mean(0)
    angle = np.arctan2(hull[:, 1] - centre[1], hull[:, 0] - centre[0])
    order = np.argsort(angle)
    rel = mesh - centre
    hull_radius = np.linalg.norm(hull - centre, axis=1)[order]
    radius = np.interp(np.arctan2(rel[:, 1], rel[:, 0]), angle[order], hull_radius, period=2 * np.pi)
    rho = np.linalg.norm(rel, axis=1) / np.maximum(radius, 1e-9)
    return np.clip((1.0 - rho) / (1.0 - OUTLINE_TAPER), 0.0, 1.0) ** 2


def apply_pose(mesh: np.ndarray, target3d: np.ndarray, pose: HeadPose, limit: float = MAX_ANGLE_DEG) -> np.ndarray:
    """(478, 2) float32 pixels: the target's driven ``mesh`` (478, 2) moved by ``pose`` (angles
    clamped to +- ``limit``; the out-of-plane part weighted by :func:`outline_weight`).
    target3d: (478, 3) the target photo's own FaceMesh (its z lifts the mesh to 3-D; its rigid
    centroid is the pivot; its IOD scales the shift)."""
    target3d = np.asarray(target3d, dtype=np.float64)
    pose = pose.clamped(limit)
    lifted = np.concatenate([np.asarray(mesh, dtype=np.float64), target3d[:, 2:3]], axis=1)
    pivot = target3d[list(RIGID_MESH)].mean(0)
    turned = (pose.scale * (lifted - pivot) @ pose.rotation().T)[:, :2]
    in_plane = (pose.scale * (lifted - pivot) @ HeadPose(roll=pose.roll).rotation().T)[:, :2]
    moved = in_plane + outline_weight(mesh)[:, None] * (turned - in_plane) + pivot[:2]
    return (moved + np.asarray(pose.shift) * iod_of(target3d)).astype(np.float32)


def head_motion(neutral_mesh: np.ndarray, posed_mesh: np.ndarray) -> np.ndarray:
    """(2, 3) similarity in photo pixels that moves the head from ``neutral_mesh`` to
    ``posed_mesh`` (both (478, 2)), fitted on the rigid vertices: what the warp's inner ring follows."""
    idx = list(RIGID_MESH)
    return similarity(np.asarray(neutral_mesh)[idx], np.asarray(posed_mesh)[idx])
