"""Target panel: the identity photo (open, drop, or a bundled sample) and which face of it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.io import IMAGE_SUFFIXES
from fes_desktop.panels.source_panel import PHOTO_FILTER
from fes_desktop.sources import SAMPLE_TARGETS
from fes_desktop.workers.render_worker import TargetInfo

THUMBNAIL = 72


def dropped_photo(event: QDragEnterEvent | QDropEvent) -> Path | None:
    """The first local photo file in a drag, else None."""
    for url in event.mimeData().urls():
        path = Path(url.toLocalFile())
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return path
    return None


class TargetPanel(QWidget):
    target_chosen = Signal(object)  # Path
    face_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("targetPanel")
        self.setAcceptDrops(True)

        self.samples = QListWidget()
        self.samples.setObjectName("targetSamples")
        self.samples.setViewMode(QListWidget.ViewMode.IconMode)
        self.samples.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.samples.setFlow(QListWidget.Flow.LeftToRight)
        self.samples.setWrapping(False)
        self.samples.setMovement(QListWidget.Movement.Static)
        self.samples.setFixedHeight(THUMBNAIL + 40)
        self.samples.setToolTip("Bundled sample photos (see resources/samples/ATTRIBUTION.md)")
        for path in SAMPLE_TARGETS:
            item = QListWidgetItem(_thumbnail(path), path.stem.replace("target_", ""))
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path.name)
            self.samples.addItem(item)
        self.samples.itemClicked.connect(lambda item: self.target_chosen.emit(item.data(Qt.ItemDataRole.UserRole)))

        open_button = QPushButton("Open photo…")
        open_button.setToolTip("Open the photo of the person to animate (Ctrl+O); you can also drop one here")
        open_button.clicked.connect(self.browse)

        self.path_label = QLabel("–")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.face_combo = QComboBox()
        self.face_combo.setObjectName("targetFace")
        self.face_combo.setToolTip("Which face of the photo to animate (largest first)")
        self.face_combo.activated.connect(self.face_chosen)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: palette(mid);")

        form = QFormLayout()
        form.addRow("Photo", self.path_label)
        form.addRow("Face", self.face_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.samples)
        layout.addWidget(open_button)
        layout.addLayout(form)
        layout.addWidget(self.notes)
        layout.addStretch(1)

    def set_target(self, info: TargetInfo) -> None:
        self.path_label.setText(info.path.name)
        self.path_label.setToolTip(str(info.path))
        self.face_combo.blockSignals(True)
        self.face_combo.clear()
        for i, face in enumerate(info.faces):
            self.face_combo.addItem(f"Face {i + 1} ({face.size:.0f} px)")
        self.face_combo.setCurrentIndex(info.chosen)
        self.face_combo.setEnabled(len(info.faces) > 1)
        self.face_combo.blockSignals(False)
        self.notes.setText("\n".join(info.notes))
        for i in range(self.samples.count()):
            item = self.samples.item(i)
            item.setSelected(item.data(Qt.ItemDataRole.UserRole) == info.path)

    def browse(self) -> None:
        start = self.path_label.toolTip() or str(SAMPLE_TARGETS[0].parent)
        path, _ = QFileDialog.getOpenFileName(self, "Open the target photo", str(Path(start).parent), PHOTO_FILTER)
        if path:
            self.target_chosen.emit(Path(path))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_photo(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = dropped_photo(event)
        if path is not None:
            event.acceptProposedAction()
            self.target_chosen.emit(path)


def _thumbnail(path: Path) -> QIcon:
    image = QImage(str(path))
    if image.isNull():
        return QIcon()
    scaled = image.scaled(THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return QIcon(QPixmap.fromImage(scaled))
