"""Choosing the backend and precision that run a model fastest here without losing quality.

On first use per machine and model, :func:`calibrate` loads every (backend, precision) this
machine offers (:func:`engine.backends.base.candidates`), runs each on a probe built from a real
photo, and keeps the fastest whose output stays within :class:`Tolerance` of the fp32 reference
(SSIM of the uint8 images and max-abs of the float output). The :class:`Choice` is cached in the
user cache directory (``backend-selection.json``) keyed by model hash and machine, reported in the
log and by :meth:`Choice.summary`, and overridden by ``SelectOptions(backend="onnxruntime-int8")``.

At run time :class:`GuardedBackend` watches every output: NaN/inf or an all-black image switches
to the same backend in fp32, then to the next backend in fp32, with a status message each time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from engine.backends.base import GENERATOR, Backend, available_backends, candidates, get_backend, network_file
from engine.backends.cache import cache_root, file_sha256, write_atomic
from engine.errors import BackendError, FesError, ModelError, OutputError
from engine.manifest import Manifest

log = logging.getLogger(__name__)

SELECTION_FILE = "backend-selection.json"
REFERENCE_ORDER = (("onnxruntime", "fp32"), ("torch", "fp32"), ("tensorrt", "fp32"))
BLACK_LEVEL = -0.98  # an output whose brightest value is below this is all black (images in [-1, 1])
REDUCED_GAIN = 0.9  # a reduced precision replaces fp32 only when at least 10% faster
SLOW_FACTOR = 2.0  # a candidate whose first timed run is this much slower than the best so far stops early

StatusCallback = Callable[[str], None]


@dataclass(frozen=True)
class Tolerance:
    """How far a faster backend/precision may drift from the fp32 reference on the probe.

    min_ssim: SSIM of the uint8 BGR images, mean over channels (1.0 is identical).
    max_abs: largest absolute difference of the float outputs (images in [-1, 1]; 0.1 is ~13 grey levels).
    """

    min_ssim: float = 0.995
    max_abs: float = 0.1


@dataclass(frozen=True)
class SelectOptions:
    """backend: None or "auto" calibrates; ``"name"`` or ``"name-precision"`` forces a choice.

    recalibrate: ignore the cached choice. runs: timed runs per candidate after one warm-up.
    threads: CPU kernel threads for the backends (None: the live-app default).
    cache_file: where choices are kept (default: the user cache directory).
    """

    backend: str | None = None
    recalibrate: bool = False
    tolerance: Tolerance = field(default_factory=Tolerance)
    runs: int = 5
    threads: int | None = None
    cache_file: Path | None = None


@dataclass(frozen=True)
class Trial:
    """One candidate's calibration: median ms, agreement with the reference, and why it lost if it did."""

    label: str
    ms: float | None = None
    ssim: float | None = None
    max_abs: float | None = None
    rejected: str = ""


@dataclass(frozen=True)
class Choice:
    """The backend and precision to run a model with, and how that was decided.

    how: "calibrated", "cached" or "override".
    """

    backend: str
    precision: str
    how: str
    reference: str = ""
    trials: tuple[Trial, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.precision}"

    def summary(self) -> str:
        """One line for the status bar and the log, e.g. ``onnxruntime-int8 (calibrated: 9.8 ms; ...)``."""
        parts = []
        for t in self.trials:
            if t.rejected:
                parts.append(f"{t.label} rejected ({t.rejected})")
            elif t.ms is not None:
                parts.append(f"{t.label} {t.ms:.1f} ms")
        detail = f"; {', '.join(parts)}" if parts else ""
        return f"{self.label} ({self.how}{detail})"

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> "Choice":
        trials = tuple(Trial(**t) for t in data.get("trials", ()))
        return Choice(data["backend"], data["precision"], data["how"], data.get("reference", ""), trials)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"onnxruntime-int8"`` -> ("onnxruntime", "int8"); ``"torch"`` -> ("torch", None). Validates the name."""
    name, _, precision = spec.partition("-")
    get_backend(name)
    return name, precision or None


def default_precision(name: str) -> str:
    """The precision an override without one runs: fp16 for TensorRT (its point), fp32 otherwise."""
    return "fp16" if name == "tensorrt" else "fp32"


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5) of two uint8 images of one shape."""
    x = a.astype(np.float32)
    y = b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    smap = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(smap.mean())


def to_image(output: np.ndarray) -> np.ndarray:
    """First item of a (B, 3, N, N) [-1, 1] output as (N, N, 3) uint8 (channel order kept)."""
    x = np.clip((output[0].transpose(1, 2, 0) + 1.0) * 127.5, 0, 255)
    return x.round().astype(np.uint8)


def output_problem(output: np.ndarray, check_black: bool = True) -> str:
    """Why an output is unusable ("NaN or inf", "all black"), or "" when it is fine."""
    lo, hi = float(output.min()), float(output.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "NaN or inf in the output"
    if check_black and hi < BLACK_LEVEL:
        return "all-black output"
    return ""


def machine_fingerprint() -> str:
    """What a timing depends on besides the model: CPU, GPU and the runtimes' versions."""
    import torch

    from engine.backends.ort import onnxruntime

    parts = [platform.machine(), _cpu_model(), str(len(_affinity())), onnxruntime().__version__, torch.__version__]
    if torch.cuda.is_available():
        parts.append(torch.cuda.get_device_name(0))
    if "tensorrt" in available_backends():
        import tensorrt

        parts.append(tensorrt.__version__)
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]


def _affinity() -> set[int]:
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


class SelectionCache:
    """Choices per (model hash, machine) in one JSON file; safe to share between processes (atomic writes)."""

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_root() / SELECTION_FILE

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable backend choices in %s (%s)", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> Choice | None:
        entry = self._read().get(key)
        if entry is None:
            return None
        try:
            return Choice.from_dict(entry)
        except (KeyError, TypeError) as exc:
            log.warning("ignoring malformed cached backend choice (%s)", exc)
            return None

    def put(self, key: str, choice: Choice) -> None:
        with self._lock:
            data = self._read()
            data[key] = choice.to_dict()
            write_atomic(self.path, json.dumps(data, indent=2).encode("utf-8"))


def selection_key(manifest: Manifest, folder: str | Path) -> str:
    onnx_hash = file_sha256(network_file(manifest, folder, GENERATOR, ".onnx"))
    return f"{manifest.name}:{onnx_hash[:16]}:{machine_fingerprint()}"


def _time_runs(backend: Backend, probe: dict[str, np.ndarray], runs: int, best_ms: float | None) -> tuple[float, np.ndarray]:
    """Median ms over ``runs`` after one warm-up (lazy kernels, allocator), and the last output.

    A candidate already ``SLOW_FACTOR`` times slower than ``best_ms`` on its first timed run is
    not timed further: calibration stays short when, say, int8 convolutions are slow on this CPU.
    """
    backend.run(probe)
    times: list[float] = []
    out = None
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        out = backend.run(probe)
        times.append((time.perf_counter() - t0) * 1000.0)
        if best_ms is not None and times[0] > SLOW_FACTOR * best_ms:
            break
    return statistics.median(times), np.array(out, dtype=np.float32, copy=True)


def _required_gain(precision: str, best_precision: str) -> float:
    """A reduced precision must beat an fp32 winner by ``REDUCED_GAIN``, not by timing noise."""
    return REDUCED_GAIN if precision != "fp32" and best_precision == "fp32" else 1.0


def calibrate(
    manifest: Manifest,
    folder: str | Path,
    probe: dict[str, np.ndarray],
    options: SelectOptions = SelectOptions(),
    pairs: list[tuple[str, str]] | None = None,
) -> tuple[Choice, Backend]:
    """Time every candidate on ``probe`` and keep the fastest within tolerance of fp32 (a reduced
    precision must be at least 10% faster than the best fp32 one to win).

    probe: the model's inputs for one real photo, batch axis first (see
    :meth:`engine.synthesis.neural_crop.NeuralGenerator.probe_inputs`).
    pairs: candidates to try (default: every pair this machine can run).
    Returns the choice and its loaded backend (the others are closed).
    Raises BackendError when no candidate loads or all fall outside tolerance.
    """
    pairs = pairs if pairs is not None else candidates()
    reference_pair = next((p for p in REFERENCE_ORDER if p in pairs), None)
    if reference_pair is None:
        raise BackendError(f"no fp32 backend available to calibrate against (candidates: {pairs})")
    ordered = [reference_pair, *[p for p in pairs if p != reference_pair]]
    tol = options.tolerance
    trials: list[Trial] = []
    best: tuple[float, tuple[str, str], Backend] | None = None
    reference: np.ndarray | None = None
    reference_image: np.ndarray | None = None
    for name, precision in ordered:
        label = f"{name}-{precision}"
        try:
            backend = get_backend(name).load(manifest, folder, precision, threads=options.threads)
        except ModelError:
            raise
        except FesError as exc:
            if reference is None:
                raise BackendError(f"the fp32 reference {label} does not load: {exc}") from exc
            trials.append(Trial(label, rejected=str(exc)))
            log.info("calibration: %s unavailable (%s)", label, exc)
            continue
        ms, out = _time_runs(backend, probe, options.runs, best[0] if best is not None else None)
        problem = output_problem(out)
        if reference is None:
            if problem:
                backend.close()
                raise BackendError(f"{manifest.name}: the fp32 reference ({label}) gives {problem} on the probe")
            reference, reference_image = out, to_image(out)
        score = ssim(to_image(out), reference_image)
        diff = float(np.abs(out - reference).max()) if out.shape == reference.shape else float("inf")
        reason = problem
        if not reason and score < tol.min_ssim:
            reason = f"SSIM {score:.4f} < {tol.min_ssim}"
        if not reason and diff > tol.max_abs:
            reason = f"max-abs {diff:.3f} > {tol.max_abs}"
        trials.append(Trial(label, round(ms, 3), round(score, 5), round(diff, 5), reason))
        log.info("calibration: %s %.2f ms, SSIM %.4f, max-abs %.4f%s", label, ms, score, diff, f" rejected: {reason}" if reason else "")
        if reason or (best is not None and ms >= best[0] * _required_gain(precision, best[1][1])):
            backend.close()
            continue
        if best is not None:
            best[2].close()
        best = (ms, (name, precision), backend)
    if best is None:
        raise BackendError(f"{manifest.name}: no backend passed calibration ({'; '.join(f'{t.label}: {t.rejected}' for t in trials)})")
    (name, precision), backend = best[1], best[2]
    return Choice(name, precision, "calibrated", f"{reference_pair[0]}-{reference_pair[1]}", tuple(trials)), backend


def select_backend(
    manifest: Manifest,
    folder: str | Path,
    probe: dict[str, np.ndarray],
    options: SelectOptions = SelectOptions(),
) -> tuple[Choice, Backend]:
    """The backend to run ``manifest``'s generator with: overridden, cached, or calibrated now.

    Every outcome is logged with :meth:`Choice.summary`. An overridden backend that cannot load
    raises; a cached choice that no longer loads is recalibrated.
    """
    if options.backend and options.backend != "auto":
        name, precision = parse_spec(options.backend)
        precision = precision or default_precision(name)
        backend = get_backend(name).load(manifest, folder, precision, threads=options.threads)
        choice = Choice(name, precision, "override")
        log.info("backend: %s", choice.summary())
        return choice, backend
    cache = SelectionCache(options.cache_file)
    key = selection_key(manifest, folder)
    cached = None if options.recalibrate else cache.get(key)
    if cached is not None:
        try:
            backend = get_backend(cached.backend).load(manifest, folder, cached.precision, threads=options.threads)
        except ModelError:
            raise
        except FesError as exc:
            log.warning("cached backend %s no longer loads (%s); recalibrating", cached.label, exc)
        else:
            choice = Choice(cached.backend, cached.precision, "cached", cached.reference, cached.trials)
            log.info("backend: %s", choice.summary())
            return choice, backend
    choice, backend = calibrate(manifest, folder, probe, options)
    try:
        cache.put(key, choice)
    except (OutputError, OSError) as exc:
        log.warning("backend choice not saved (%s); the next start calibrates again", exc)
    log.info("backend: %s", choice.summary())
    return choice, backend


def fallback_chain(name: str, precision: str) -> list[tuple[str, str]]:
    """What to try after (name, precision) fails: the same backend in fp32, then the others in fp32."""
    chain = []
    if precision != "fp32":
        chain.append((name, "fp32"))
    chain += [(other, "fp32") for other in available_backends() if other != name and "fp32" in get_backend(other).precisions()]
    return chain


def open_backend(
    manifest: Manifest,
    folder: str | Path,
    name: str,
    precision: str,
    *,
    network: str = GENERATOR,
    threads: int | None = None,
    on_status: StatusCallback | None = None,
) -> Backend:
    """Load (name, precision), falling back along :func:`fallback_chain` with a status when it fails.

    A corrupt model (ModelError) is not a backend problem and is raised at once.
    """
    attempts = [(name, precision), *fallback_chain(name, precision)]
    reasons = []
    for n, p in attempts:
        try:
            backend = get_backend(n).load(manifest, folder, p, network=network, threads=threads)
        except ModelError:
            raise
        except BackendError as exc:
            reasons.append(f"{n}-{p}: {exc}")
            message = f"{n}-{p} unavailable ({exc}); falling back"
            log.warning(message)
            if on_status:
                on_status(message)
            continue
        return backend
    raise BackendError(f"no backend can run {manifest.name}: {'; '.join(reasons)}")


class GuardedBackend:
    """A backend whose every output is checked; a bad one switches along :func:`fallback_chain`.

    run() returns the output of the first backend in the chain that gives a usable one (the bad
    frame is re-run, so callers never see NaN or a black frame from a precision problem); each switch
    is logged and passed to ``on_status``. ``status`` keeps the last such message.
    """

    def __init__(
        self,
        backend: Backend,
        manifest: Manifest,
        folder: str | Path,
        *,
        threads: int | None = None,
        check_black: bool = True,
        on_status: StatusCallback | None = None,
    ) -> None:
        self.backend = backend
        self.manifest = manifest
        self.folder = Path(folder)
        self.threads = threads
        self.check_black = check_black
        self.on_status = on_status
        self.status = ""
        self._chain = fallback_chain(backend.name, backend.precision)

    @property
    def label(self) -> str:
        return self.backend.label

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        out = self.backend.run(inputs)
        problem = output_problem(out, self.check_black)
        while problem:
            if not self._chain:
                raise BackendError(f"{self.backend.label} gives {problem} and no fallback is left")
            name, precision = self._chain.pop(0)
            try:
                replacement = get_backend(name).load(self.manifest, self.folder, precision, threads=self.threads)
            except FesError as exc:
                log.warning("fallback %s-%s failed to load (%s)", name, precision, exc)
                continue
            self._report(f"{self.backend.label} gave {problem}; switched to {replacement.label}")
            self.backend.close()
            self.backend = replacement
            out = self.backend.run(inputs)
            problem = output_problem(out, self.check_black)
        return out

    def _report(self, message: str) -> None:
        self.status = message
        log.warning(message)
        if self.on_status:
            self.on_status(message)

    def close(self) -> None:
        self.backend.close()

