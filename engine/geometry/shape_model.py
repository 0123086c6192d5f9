"""Paper 2's shape model (G2-GAN, section 3.2) on FaceMesh shapes in face units.

Basic model (eq. 7):  s = s_mean + P_id a + P_exp b     (PCA of shapes normalised by the eyes)
Individual-specific:  s = s_neutral + P_exp b          (the person's own neutral replaces the mean)

``P_id`` is the PCA of neutral shapes (who the person is); ``P_exp`` the PCA of expression
displacements (observed pairs plus the expression templates, so every label is spanned).
Expression parameters come from a ridge-regularised least-squares fit (the paper's eq. 9 with a
Gaussian prior from the PCA variances); interpolating parameters interpolates expressions.
The model is fitted by scripts/build_template.py and stored as resources/geometry/shape_model.npz.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import resources
from engine.errors import ModelError
from engine.io.atomic import atomic_path

DEFAULT_PATH = resources.ROOT / "geometry" / "shape_model.npz"


def pca(samples: np.ndarray, variance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (D,), components (K, D) orthonormal rows, std (K,)) keeping ``variance`` of the total."""
    mean = samples.mean(axis=0)
    _, sig, vt = np.linalg.svd(samples - mean, full_matrices=False)
    var = sig**2 / max(len(samples) - 1, 1)
    keep = int(np.searchsorted(np.cumsum(var) / var.sum(), variance) + 1)
    return mean, vt[:keep], np.sqrt(var[:keep])


@dataclass(frozen=True)
class ShapeModel:
    mean: np.ndarray  # (478, 2) mean neutral shape, face units
    identity: np.ndarray  # (Ki, 956) orthonormal identity components
    identity_std: np.ndarray  # (Ki,)
    expression: np.ndarray  # (Ke, 956) orthonormal expression components
    expression_std: np.ndarray  # (Ke,)

    @staticmethod
    def fit(neutrals: np.ndarray, displacements: np.ndarray, variance: float = 0.98) -> "ShapeModel":
        """neutrals: (N, 478, 2) face units; displacements: (M, 478, 2) expressive minus own neutral."""
        mean, p_id, s_id = pca(neutrals.reshape(len(neutrals), -1), variance)
        both = np.concatenate([displacements, -displacements]).reshape(2 * len(displacements), -1)
        _, p_exp, s_exp = pca(both, variance)
        return ShapeModel(mean.reshape(478, 2), p_id, s_id, p_exp, s_exp)

    @staticmethod
    def load(path: str | Path | None = None) -> "ShapeModel":
        path = Path(path) if path else DEFAULT_PATH
        try:
            with np.load(path, allow_pickle=False) as z:
                return ShapeModel(z["mean"], z["identity"], z["identity_std"], z["expression"], z["expression_std"])
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: cannot read the shape model ({exc})") from exc

    def save(self, path: str | Path) -> None:
        """Write the model atomically as an .npz (no pickles)."""
        with atomic_path(path) as tmp:
            np.savez(tmp, mean=self.mean, identity=self.identity, identity_std=self.identity_std,
                     expression=self.expression, expression_std=self.expression_std)

    def fit_expression(self, neutral: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """Expression parameters b (Ke,) with observed ~ neutral + P_exp b (least squares, ridge prior)."""
        r = (np.asarray(observed) - np.asarray(neutral)).reshape(-1)
        p = self.expression
        a = p @ p.T + np.diag(1e-3 / self.expression_std**2)
        return np.linalg.solve(a, p @ r)

    def express(self, neutral: np.ndarray, params: np.ndarray) -> np.ndarray:
        """The individual-specific model: (478, 2) neutral + P_exp b."""
        return np.asarray(neutral) + (params @ self.expression).reshape(478, 2)

    def interpolate(self, neutral: np.ndarray, params0: np.ndarray, params1: np.ndarray, t: float) -> np.ndarray:
        """Shape between two expressions of the same person (t = 0 -> params0, 1 -> params1)."""
        return self.express(neutral, (1.0 - t) * params0 + t * params1)

    def estimate_neutral(self, observed: np.ndarray) -> np.ndarray:
        """The person's neutral shape (478, 2) from one expressive shape in face units.

        Solves observed ~ mean + P_id a + P_exp b jointly (ridge prior from the PCA variances)
        and drops the expression part.
        """
        basis = np.concatenate([self.identity, self.expression])
        std = np.concatenate([self.identity_std, self.expression_std])
        r = (np.asarray(observed) - self.mean).reshape(-1)
        # Noise variance of one coordinate ~ (0.01 IOD)^2: landmark jitter of FaceMesh.
        a = basis @ basis.T + np.diag(1e-4 / std**2)
        coef = np.linalg.solve(a, basis @ r)
        k = len(self.identity_std)
        return self.mean + (coef[:k] @ self.identity).reshape(478, 2)
