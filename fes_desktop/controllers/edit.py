"""Photo edit mode: label and landmark edits of the target photo, rendered by the photo worker."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from engine.face.ibug68 import mesh_to_ibug68
from fes_desktop.errors import UserMessage
from fes_desktop.landmarks import Change
from fes_desktop.workers.render_worker import EditRequest, EditResult

if TYPE_CHECKING:
    from fes_desktop.main_window import MainWindow


class EditController(QObject):
    """Turns the Expression panel's label and intensity, the landmark editor's drags and a chosen
    driving photo into numbered EditRequests (drafts while dragging), keeps the newest result
    (``last``; ``serial`` is the newest request's number) and shows it in edit mode."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.last: EditResult | None = None
        self.serial = 0
        self.driving_photo: Path | None = None

    def reset(self) -> None:
        """A new target photo: no edit of it yet."""
        self.last = None

    @Slot(str, float, bool)
    def on_expression(self, label: str, intensity: float, final: bool) -> None:
        w = self._window
        w.settings = replace(w.settings, expression=replace(w.settings.expression, label=label, intensity=intensity))
        if w.mode != "edit":
            w.set_mode("edit")
        self.submit(draft=not final)

    @Slot(object)
    def on_driving_photo(self, path: Path) -> None:
        self.driving_photo = path
        self.submit(draft=False)

    def on_document_change(self, change: Change) -> None:
        if change in (Change.DRAGGING, Change.EDITED):
            if self._window.mode != "edit":
                self._window.set_mode("edit")
            self.submit(draft=change == Change.DRAGGING)

    def submit(self, draft: bool) -> None:
        w = self._window
        if w.target is None:
            return
        if w.model_info.source_image and self.driving_photo is None:
            w.statusBar().showMessage("This model copies a driving photo's expression: choose one in the Expression panel.", 8000)
            return
        self.serial += 1
        expression = w.settings.expression
        w.photo.submit(
            EditRequest(
                serial=self.serial,
                target_serial=w.target.serial,
                label=expression.label,
                intensity=expression.intensity,
                offsets=w.landmark_panel.document.offsets.copy(),
                draft=draft,
                source_path=self.driving_photo if w.model_info.source_image else None,
            )
        )

    @Slot(object)
    def on_ready(self, result: EditResult) -> None:
        w = self._window
        if w.target is None or result.target_serial != w.target.serial:
            return
        if self.last is not None and result.serial < self.last.serial:
            return
        self.last = result
        if not w.landmark_panel.canvas.dragging:
            w.landmark_panel.set_base(result.base68)
        w.landmark_panel.set_image(result.qimage)
        self.show_view()
        w.update_status_line()

    @Slot(object)
    def on_failed(self, message: UserMessage) -> None:
        self._window.errors.show(message)

    def show_view(self) -> None:
        """The target and its newest edit (or the target itself) in the view, in edit mode."""
        w = self._window
        if w.mode != "edit" or w.target is None:
            return
        result = self.last
        image = result.qimage if result is not None else w.target.qimage
        points = mesh_to_ibug68(result.mesh) if result is not None else w.target.face.landmarks68
        w.view.set_frames(w.target.qimage, image, w.target.face.landmarks68, points)
        w.update_captions()
