"""Source panel: what drives the live view (camera by name, video, photo, bundled clip), mirror,
and the neutral reference of the driving face."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
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

from engine.io import IMAGE_SUFFIXES
from fes_desktop.cameras import CameraInfo
from fes_desktop.sources import DRIVING_CLIP, SourceSpec
from fes_desktop.workers.neutral_score import NeutralScore

VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v);;All files (*)"
PHOTO_FILTER = "Photos (" + " ".join(f"*{s} *{s.upper()}" for s in sorted(IMAGE_SUFFIXES)) + ")"
"""Photo formats only (upper case too: some systems' dialogs match case-sensitively)."""
DEFAULT_SIZE = "Camera default"


class SourcePanel(QWidget):
    source_chosen = Signal(object)  # SourceSpec
    mirror_changed = Signal(bool)
    capture_neutral_requested = Signal()
    refresh_cameras_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourcePanel")
        self._cameras: list[CameraInfo] = []
        self._current: SourceSpec = SourceSpec.clip()

        self.input_combo = QComboBox()
        self.input_combo.setObjectName("sourceInput")
        self.input_combo.setToolTip("What drives the live view")
        self.input_combo.activated.connect(self._on_input_activated)
        refresh = QToolButton()
        refresh.setText("⟳")
        refresh.setToolTip("Look for cameras again")
        refresh.clicked.connect(self.refresh_cameras_requested)
        row = QHBoxLayout()
        row.addWidget(self.input_combo, 1)
        row.addWidget(refresh)

        self.size_combo = QComboBox()
        self.size_combo.setToolTip("Camera resolution")
        self.size_combo.activated.connect(self._on_camera_format_changed)
        self.fps_combo = QComboBox()
        self.fps_combo.setToolTip("Camera frame rate")
        self.fps_combo.activated.connect(self._on_camera_format_changed)
        self.mirror_check = QCheckBox("Mirror (flip left-right)")
        self.mirror_check.setToolTip("Like a mirror: your left is on the left (M)")
        self.mirror_check.toggled.connect(self.mirror_changed)

        form = QFormLayout()
        form.addRow("Input", row)
        form.addRow("Resolution", self.size_combo)
        form.addRow("Frame rate", self.fps_combo)
        form.addRow("", self.mirror_check)

        self.neutral_button = QPushButton("Capture neutral")
        self.neutral_button.setObjectName("captureNeutral")
        self.neutral_button.setToolTip(
            "With a relaxed face looking into the camera: use this frame as the neutral reference "
            "that expressions are measured from (N)"
        )
        self.neutral_button.clicked.connect(self.capture_neutral_requested)
        self.neutral_bar = _score_bar("Neutral")
        self.frontal_bar = _score_bar("Frontal")
        self.neutral_advice = QLabel("Not captured: the neutral face is estimated from the first frames.")
        self.neutral_advice.setWordWrap(True)
        self.neutral_advice.setObjectName("neutralAdvice")
        neutral_box = QGroupBox("Neutral reference")
        neutral_layout = QFormLayout(neutral_box)
        neutral_layout.addRow(self.neutral_button)
        neutral_layout.addRow("Neutral", self.neutral_bar)
        neutral_layout.addRow("Frontal", self.frontal_bar)
        neutral_layout.addRow(self.neutral_advice)
        self.clear_neutral()

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(neutral_box)
        layout.addStretch(1)
        self._rebuild_inputs()

    # ---- state from the window ----

    def set_cameras(self, cameras: list[CameraInfo]) -> None:
        self._cameras = list(cameras)
        self._rebuild_inputs()

    def set_source(self, spec: SourceSpec) -> None:
        self._current = spec
        self._rebuild_inputs()

    def set_mirror(self, on: bool) -> None:
        self.mirror_check.blockSignals(True)
        self.mirror_check.setChecked(on)
        self.mirror_check.blockSignals(False)

    def show_neutral(self, score: NeutralScore) -> None:
        for bar, value in ((self.neutral_bar, score.neutral), (self.frontal_bar, score.frontal)):
            bar.setFormat("%p %")
            bar.setValue(round(value * 100))
        self.neutral_advice.setText(score.advice())

    def clear_neutral(self) -> None:
        for bar in (self.neutral_bar, self.frontal_bar):
            bar.setFormat("–")
            bar.setValue(0)
        self.neutral_advice.setText("Not captured: the neutral face is estimated from the first frames.")

    @property
    def current(self) -> SourceSpec:
        return self._current

    # ---- the input list ----

    def _rebuild_inputs(self) -> None:
        combo = self.input_combo
        combo.blockSignals(True)
        combo.clear()
        for camera in self._cameras:
            combo.addItem(f"📷 {camera.name}", ("camera", camera))
        if not self._cameras:
            combo.addItem("No camera found", ("none", None))
            item = combo.model().item(combo.count() - 1)
            item.setEnabled(False)
        combo.addItem("Driving clip (bundled)", ("clip", None))
        spec = self._current
        if spec.kind in ("video", "photo") and not spec.is_clip:
            combo.addItem(spec.label, (spec.kind, spec.path))
        combo.addItem("Video file…", ("browse-video", None))
        combo.addItem("Photo…", ("browse-photo", None))
        combo.setCurrentIndex(self._index_of(spec))
        combo.blockSignals(False)
        self._rebuild_formats()

    def _index_of(self, spec: SourceSpec) -> int:
        for i in range(self.input_combo.count()):
            kind, value = self.input_combo.itemData(i)
            if spec.kind == "camera" and kind == "camera" and value.index == spec.camera_index:
                return i
            if spec.is_clip and kind == "clip":
                return i
            if not spec.is_clip and kind == spec.kind and value == spec.path:
                return i
        return 0

    def _camera(self) -> CameraInfo | None:
        kind, value = self.input_combo.currentData() or (None, None)
        return value if kind == "camera" else None

    def _rebuild_formats(self) -> None:
        camera = self._camera()
        for combo in (self.size_combo, self.fps_combo):
            combo.blockSignals(True)
            combo.clear()
        self.size_combo.addItem(DEFAULT_SIZE, None)
        if camera is not None:
            for width, height in camera.sizes():
                self.size_combo.addItem(f"{width} × {height}", (width, height))
            if self._current.size is not None:
                index = self.size_combo.findData(self._current.size)
                self.size_combo.setCurrentIndex(max(index, 0))
        self.fps_combo.addItem("Camera default", None)
        if camera is not None:
            for rate in camera.frame_rates(self.size_combo.currentData()):
                self.fps_combo.addItem(f"{rate:g} fps", rate)
            if self._current.fps is not None:
                index = self.fps_combo.findData(self._current.fps)
                self.fps_combo.setCurrentIndex(max(index, 0))
        for combo in (self.size_combo, self.fps_combo):
            combo.setEnabled(camera is not None)
            combo.blockSignals(False)

    def _on_input_activated(self, index: int) -> None:
        kind, value = self.input_combo.itemData(index)
        spec: SourceSpec | None = None
        if kind == "camera":
            spec = SourceSpec("camera", camera_index=value.index, camera_name=value.name)
        elif kind == "clip":
            spec = SourceSpec.clip()
        elif kind in ("video", "photo"):
            spec = SourceSpec(kind, value)
        elif kind == "browse-video":
            spec = self._browse("video", "Choose a driving video", VIDEO_FILTER)
        elif kind == "browse-photo":
            spec = self._browse("photo", "Choose a driving photo", PHOTO_FILTER)
        if spec is None:
            self._rebuild_inputs()
            return
        self.choose(spec)

    def _browse(self, kind: str, title: str, filters: str) -> SourceSpec | None:
        start = str(self._current.path.parent) if self._current.path else str(DRIVING_CLIP.parent)
        path, _ = QFileDialog.getOpenFileName(self, title, start, filters)
        return SourceSpec(kind, Path(path)) if path else None

    def _on_camera_format_changed(self) -> None:
        spec = self._current
        if spec.kind != "camera":
            return
        self.choose(SourceSpec("camera", camera_index=spec.camera_index, camera_name=spec.camera_name, size=self.size_combo.currentData(), fps=self.fps_combo.currentData()))

    def choose(self, spec: SourceSpec) -> None:
        """Make ``spec`` the source (as if picked in the list) and tell the window."""
        self._current = spec
        self._rebuild_inputs()
        self.source_chosen.emit(spec)


def _score_bar(name: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 100)
    bar.setAlignment(Qt.AlignmentFlag.AlignCenter)
    bar.setToolTip(f"{name} score of the captured reference face (70 % or more is good)")
    return bar
