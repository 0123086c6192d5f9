"""Model panel: which generator renders, on which backend, and the TensorRT engine build.

It speaks to artists: what the model is for, how it compares with the warp on people it never
saw, how fast it runs on this machine; the manifest's numbers (identity FAR/TAR, rank-1, ...)
sit behind a Details toggle.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.backends import candidates
from engine.errors import ModelError
from engine.synthesis.photo_generators import WARP, available_models
from fes_desktop.capabilities import ModelInfo
from fes_desktop.errors import UserMessage
from fes_desktop.workers.build_worker import BuildRun, tensorrt_available


AUTO_LABEL = "Auto (fastest that keeps quality)"


def backend_choices() -> list[tuple[str, str]]:
    """(label, spec) for the backend list: "auto" first, then every backend-precision that runs here."""
    choices = [(AUTO_LABEL, "auto")]
    choices += [(f"{name} {precision}", f"{name}-{precision}") for name, precision in candidates()]
    return choices


class ModelPanel(QWidget):
    """Model and backend choice; the TensorRT build runs from here (its own thread, progress,
    cancel) and reports ``engine_built`` with the backend spec that now loads at once."""

    model_chosen = Signal(str)
    backend_chosen = Signal(str)
    engine_built = Signal(str)  # e.g. "tensorrt-fp16"
    build_failed = Signal(object)  # UserMessage

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelCombo")
        for name in available_models():
            try:
                title = ModelInfo.of(name).title
            except ModelError as error:
                title = f"{name} (unreadable: {error})"
            self.model_combo.addItem(title, name)
        self.model_combo.activated.connect(lambda i: self.model_chosen.emit(self.model_combo.itemData(i)))
        # Long model names must not widen the dock past the wrapped descriptions below them.
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(14)

        self.backend_combo = QComboBox()
        self.backend_combo.setObjectName("backendCombo")
        for label, spec in backend_choices():
            self.backend_combo.addItem(label, spec)
        self.backend_combo.activated.connect(lambda i: self.backend_chosen.emit(self.backend_combo.itemData(i)))
        self.backend_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.backend_combo.setMinimumContentsLength(14)

        self.running_label = QLabel("–")
        self.running_label.setWordWrap(True)
        self.running_label.setObjectName("modelRunning")
        self.purpose_label = _wrapped("modelPurpose")
        self.quality_label = _wrapped("modelQuality")
        self.speed_label = _wrapped("modelSpeed")
        self.speed_label.setText("Measured once the live view runs.")
        self.details_toggle = QToolButton()
        self.details_toggle.setObjectName("modelDetailsToggle")
        self.details_toggle.setText("Details")
        self.details_toggle.setCheckable(True)
        self.details_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.details_toggle.toggled.connect(self._show_details)
        self.details = _wrapped("modelDetails")
        self.details.setVisible(False)

        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("For", self.purpose_label)
        form.addRow("Quality", self.quality_label)
        form.addRow("Speed here", self.speed_label)
        form.addRow("Backend", self.backend_combo)
        form.addRow("Running", self.running_label)

        self.build_box = QGroupBox("TensorRT engine")
        self.build_button = QPushButton("Build engine")
        self.build_button.setToolTip("Build the TensorRT engine for this model and GPU now (cached; minutes, once)")
        self.build_button.clicked.connect(self.start_build)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_build)
        self.build_progress = QProgressBar()
        self.build_status = QLabel()
        self.build_status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.build_button)
        buttons.addWidget(self.cancel_button)
        build_layout = QVBoxLayout(self.build_box)
        build_layout.addLayout(buttons)
        build_layout.addWidget(self.build_progress)
        build_layout.addWidget(self.build_status)
        self._build: BuildRun | None = None
        self._set_building(False)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.details_toggle)
        layout.addWidget(self.details)
        layout.addWidget(self.build_box)
        layout.addStretch(1)
        self._update_build_box()

    @property
    def model(self) -> str:
        return self.model_combo.currentData() or WARP

    def set_model(self, name: str) -> None:
        index = self.model_combo.findData(name)
        if index < 0:
            self.model_combo.addItem(name, name)
            index = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(index)
        self._update_build_box()

    def set_backend(self, spec: str) -> None:
        index = self.backend_combo.findData(spec)
        if index < 0:
            self.backend_combo.addItem(f"{spec} (not available here)", spec)
            index = self.backend_combo.count() - 1
        self.backend_combo.setCurrentIndex(index)

    def show_info(self, info: ModelInfo, running: str) -> None:
        self.running_label.setText(running)
        self.purpose_label.setText(info.purpose)
        self.quality_label.setText(info.quality)
        self.details.setText("\n".join(info.details))
        self.backend_combo.setEnabled(info.name != WARP)
        self._update_build_box()

    def show_backend(self, backend: str) -> None:
        """What the live model runs on: "Auto" names its pick ("" for the warp: no backend)."""
        index = self.backend_combo.findData("auto")
        if index >= 0:
            self.backend_combo.setItemText(index, f"Auto (picked {backend.replace('-', ' ')})" if backend else AUTO_LABEL)

    def show_speed(self, fps: float, model_title: str) -> None:
        """The live rate measured now on this machine."""
        self.speed_label.setText(f"{fps:.0f} frames per second live ({model_title})")

    def _show_details(self, on: bool) -> None:
        self.details.setVisible(on)
        self.details_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _update_build_box(self) -> None:
        self.build_box.setVisible(self.model != WARP and tensorrt_available())

    def _set_building(self, building: bool) -> None:
        self.build_button.setEnabled(not building)
        self.cancel_button.setVisible(building)
        self.build_progress.setVisible(building)

    def start_build(self) -> None:
        if self._build is not None:
            return
        self._build = BuildRun(self.model, self)
        worker = self._build.worker
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_built)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self._set_building(True)
        self.build_progress.setRange(0, 0)
        self.build_status.setText("Building… (the model keeps running meanwhile)")

    def cancel_build(self) -> None:
        """Ask the build to stop; safe to call when none runs."""
        if self._build is not None:
            self._build.cancel()

    def wait_for_build(self) -> None:
        """Cancel and wait for a running build (the window is closing)."""
        if self._build is not None:
            self._build.cancel()
            self._build.wait()
            self._build = None

    @Slot(str, int, int)
    def _on_progress(self, phase: str, done: int, total: int) -> None:
        self.build_progress.setRange(0, max(total, 1))
        self.build_progress.setValue(done)
        self.build_status.setText(f"{phase}: {done} / {total}")

    def _end(self, text: str) -> None:
        if self._build is not None:
            self._build.wait()
            self._build = None
        self._set_building(False)
        self.build_status.setText(text)

    @Slot(str)
    def _on_built(self, spec: str) -> None:
        self._end(f"Built: {spec} now loads at once.")
        self.set_backend(spec)
        self.engine_built.emit(spec)

    @Slot(object)
    def _on_failed(self, message: UserMessage) -> None:
        self._end("Build failed: ONNX Runtime keeps running the model.")
        self.build_failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._end("Cancelled; nothing was cached.")


def _wrapped(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    return label
