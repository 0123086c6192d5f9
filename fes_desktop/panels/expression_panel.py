"""Expression panel: the eight labels with intensity for photo edits; region gains, landmark
smoothing and "head follows" for the live reenactment."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.geometry.labels import EXPRESSIONS, MAX_INTENSITY
from engine.geometry.retarget import RegionGains
from fes_desktop.panels.source_panel import PHOTO_FILTER
from fes_desktop.settings import MAX_GAIN, ExpressionSettings

REGIONS = ("brows", "eyes", "mouth", "jaw")


class PercentSlider(QWidget):
    """A slider with a % spin box beside it; ``moved`` while dragging, ``committed`` when settled."""

    moved = Signal(float)
    committed = Signal(float)

    def __init__(self, maximum: float, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        top = round(maximum * 100)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, top)
        self.slider.setPageStep(10)
        self.slider.setToolTip(tooltip)
        self.spin = QSpinBox()
        self.spin.setRange(0, top)
        self.spin.setSuffix(" %")
        self.spin.setToolTip(tooltip)
        self.spin.setKeyboardTracking(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderReleased.connect(lambda: self.committed.emit(self.value()))
        self.spin.valueChanged.connect(self._on_spin)

    def value(self) -> float:
        return self.slider.value() / 100.0

    def set_value(self, value: float) -> None:
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
            widget.setValue(round(value * 100))
            widget.blockSignals(False)

    def _on_slider(self, value: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(value)
        self.spin.blockSignals(False)
        if self.slider.isSliderDown():
            self.moved.emit(value / 100.0)
        else:  # keyboard, page step or wheel: a settled value
            self.committed.emit(value / 100.0)

    def _on_spin(self, value: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(value)
        self.slider.blockSignals(False)
        self.committed.emit(value / 100.0)


class ExpressionPanel(QWidget):
    expression_changed = Signal(str, float, bool)  # label ("" = none), intensity, final
    gains_changed = Signal(object)  # RegionGains
    smoothing_changed = Signal(float)
    follow_pose_changed = Signal(bool)
    driving_photo_chosen = Signal(object)  # Path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("expressionPanel")
        self.buttons = QButtonGroup(self)
        self.buttons.setExclusive(False)
        grid = QGridLayout()
        for i, label in enumerate(EXPRESSIONS):
            button = QPushButton(label.capitalize())
            button.setObjectName(f"label_{label}")
            button.setCheckable(True)
            button.setToolTip(f"Give the photo a {label} expression (click again for the photo's own)")
            self.buttons.addButton(button, i)
            grid.addWidget(button, i // 4, i % 4)
        self.buttons.idClicked.connect(self._on_label_clicked)
        self.intensity = PercentSlider(MAX_INTENSITY, "How strong the expression is (100 % = the template, up to 150 %)")
        self.intensity.set_value(1.0)
        self.intensity.moved.connect(lambda v: self._emit_expression(False))
        self.intensity.committed.connect(lambda v: self._emit_expression(True))

        self.driving_button = QPushButton("Driving photo…")
        self.driving_button.setToolTip("This model copies the expression of a second photo: choose it")
        self.driving_button.clicked.connect(self._browse_driving)
        self.driving_label = QLabel()
        self.driving_label.setWordWrap(True)
        self.driving_row = QWidget()
        driving_layout = QHBoxLayout(self.driving_row)
        driving_layout.setContentsMargins(0, 0, 0, 0)
        driving_layout.addWidget(self.driving_button)
        driving_layout.addWidget(self.driving_label, 1)
        self.driving_row.hide()

        edit_box = QGroupBox("Photo edit")
        edit_layout = QVBoxLayout(edit_box)
        edit_layout.addLayout(grid)
        intensity_row = QFormLayout()
        intensity_row.addRow("Intensity", self.intensity)
        edit_layout.addLayout(intensity_row)
        edit_layout.addWidget(self.driving_row)

        self.gains: dict[str, PercentSlider] = {}
        live_box = QGroupBox("Live retargeting")
        live_form = QFormLayout(live_box)
        for region in REGIONS:
            slider = PercentSlider(MAX_GAIN, f"How much of the driving face's {region} motion reaches the target")
            slider.set_value(1.0)
            slider.moved.connect(lambda v: self.gains_changed.emit(self.current_gains()))
            slider.committed.connect(lambda v: self.gains_changed.emit(self.current_gains()))
            self.gains[region] = slider
            live_form.addRow(region.capitalize(), slider)
        reset = QPushButton("Reset gains")
        reset.clicked.connect(self._reset_gains)
        live_form.addRow("", reset)
        self.smoothing = PercentSlider(1.0, "Steadier landmarks (higher) or quicker response (lower); 0 % = raw")
        self.smoothing.committed.connect(self.smoothing_changed)
        live_form.addRow("Smoothing", self.smoothing)
        self.follow_pose = QCheckBox("Head follows")
        self.follow_pose.setObjectName("follow_pose")
        self.follow_pose.setChecked(True)
        self.follow_pose.setToolTip("The target's head turns, tilts, moves and scales with the driving head (up to 20 degrees)")
        self.follow_pose.toggled.connect(self.follow_pose_changed)
        live_form.addRow("", self.follow_pose)

        layout = QVBoxLayout(self)
        layout.addWidget(edit_box)
        layout.addWidget(live_box)
        layout.addStretch(1)

    # ---- state ----

    @property
    def label(self) -> str:
        checked = self.buttons.checkedId()
        return EXPRESSIONS[checked] if checked >= 0 else ""

    def current_gains(self) -> RegionGains:
        return RegionGains(**{region: slider.value() for region, slider in self.gains.items()})

    def apply(self, settings: ExpressionSettings) -> None:
        """Show ``settings`` without emitting anything."""
        for i, button in enumerate(self.buttons.buttons()):
            button.setChecked(EXPRESSIONS[i] == settings.label)
        self.intensity.set_value(settings.intensity)
        for region, slider in self.gains.items():
            slider.set_value(getattr(settings.gains, region))
        self.smoothing.set_value(settings.smoothing)
        self.follow_pose.blockSignals(True)
        self.follow_pose.setChecked(settings.follow_pose)
        self.follow_pose.blockSignals(False)

    def choose_label(self, label: str) -> None:
        """Select ``label`` ("" for none) as a click would."""
        self._on_label_clicked(EXPRESSIONS.index(label) if label else -1, force=True)

    def set_capabilities(self, labels: bool, driving_photo: bool) -> None:
        for button in self.buttons.buttons():
            button.setEnabled(labels)
        self.intensity.setEnabled(labels)
        self.driving_row.setVisible(driving_photo)

    # ---- events ----

    def _on_label_clicked(self, index: int, force: bool = False) -> None:
        for i, button in enumerate(self.buttons.buttons()):
            if i != index or force:
                button.setChecked(i == index)
        self._emit_expression(True)

    def _emit_expression(self, final: bool) -> None:
        self.expression_changed.emit(self.label, self.intensity.value(), final)

    def _reset_gains(self) -> None:
        for slider in self.gains.values():
            slider.set_value(1.0)
        self.gains_changed.emit(self.current_gains())

    def _browse_driving(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the driving photo", "", PHOTO_FILTER)
        if path:
            self.driving_label.setText(Path(path).name)
            self.driving_photo_chosen.emit(Path(path))
