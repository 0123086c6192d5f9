"""The window's actions with their shortcuts, and the menus, toolbar and help built from them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QToolBar, QWidget


@dataclass(frozen=True)
class Actions:
    open_target: QAction
    open_driving: QAction
    save_result: QAction
    export_video: QAction
    quit: QAction
    live_mode: QAction
    edit_mode: QAction
    record: QAction
    virtual_camera: QAction
    capture_neutral: QAction
    clear_neutral: QAction
    mirror: QAction
    overlay: QAction
    result_only: QAction
    reset_layout: QAction
    shortcuts: QAction
    about: QAction

    def shortcut_table(self) -> list[tuple[str, str]]:
        """(shortcut, what it does) for the help dialog."""
        rows = []
        for action in (
            self.live_mode, self.edit_mode, self.record, self.virtual_camera, self.capture_neutral, self.clear_neutral, self.mirror, self.overlay,
            self.result_only, self.open_target, self.open_driving, self.save_result, self.export_video, self.quit,
        ):
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            rows.append((keys, action.text().replace("&", "").rstrip("…")))
        return rows


def _action(parent: QWidget, text: str, shortcut: str | QKeySequence.StandardKey | None, tip: str, checkable: bool = False) -> QAction:
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip} ({keys})" if keys else tip)
    action.setStatusTip(tip)
    action.setCheckable(checkable)
    return action


def create_actions(parent: QWidget) -> Actions:
    actions = Actions(
        open_target=_action(parent, "Open &target photo…", QKeySequence.StandardKey.Open, "Open the photo of the person to animate"),
        open_driving=_action(parent, "Open &driving video…", "Ctrl+Shift+O", "Drive the live view with a video file"),
        save_result=_action(parent, "&Save result image…", QKeySequence.StandardKey.Save, "Save the result shown now as a photo"),
        export_video=_action(parent, "&Render video offline…", "Ctrl+E", "Render every frame of a driving video onto the target"),
        quit=_action(parent, "&Quit", QKeySequence.StandardKey.Quit, "Close FES Desktop"),
        live_mode=_action(parent, "&Live", "Ctrl+1", "Reenact the target with the live source", checkable=True),
        edit_mode=_action(parent, "&Edit photo", "Ctrl+2", "Edit the target photo's expression and landmarks", checkable=True),
        record=_action(parent, "&Record", "Ctrl+R", "Record the live result to the recordings folder", checkable=True),
        virtual_camera=_action(parent, "&Virtual camera", "Ctrl+Shift+V", "Send the live result to a virtual camera for video calls and OBS", checkable=True),
        capture_neutral=_action(parent, "Capture &neutral", "N", "Use the current driving face as the neutral reference"),
        clear_neutral=_action(parent, "C&lear neutral", "Shift+N", "Forget the captured neutral; estimate it from the next frames"),
        mirror=_action(parent, "&Mirror source", "M", "Flip the driving frames left-right", checkable=True),
        overlay=_action(parent, "Landmark &overlay", "L", "Draw the 68 landmarks over source and result", checkable=True),
        result_only=_action(parent, "Result &only", "V", "Show only the result instead of source and result side by side", checkable=True),
        reset_layout=_action(parent, "Reset &panel layout", None, "Put every panel back where it started"),
        shortcuts=_action(parent, "&Keyboard shortcuts", QKeySequence.StandardKey.HelpContents, "List the keyboard shortcuts"),
        about=_action(parent, "&About FES Desktop", None, "Version and licences"),
    )
    modes = QActionGroup(parent)
    modes.addAction(actions.live_mode)
    modes.addAction(actions.edit_mode)
    actions.record.setObjectName("recordAction")
    actions.virtual_camera.setObjectName("virtualCameraAction")
    return actions


def _fill(menu_or_bar, items: Sequence[QAction | None]) -> None:
    for action in items:
        if action is None:
            menu_or_bar.addSeparator()
        else:
            menu_or_bar.addAction(action)


def build_menus(
    window: QMainWindow,
    a: Actions,
    *,
    undo: QAction,
    redo: QAction,
    reset_landmarks: Callable[[], None],
    docks: Sequence[QDockWidget],
) -> None:
    """File, Edit, Live, View and Help menus and the main toolbar. ``undo``/``redo`` are the
    landmark editor's undo-stack actions; ``docks`` get show/hide entries in View."""
    menus = window.menuBar()
    _fill(menus.addMenu("&File"), (a.open_target, a.open_driving, None, a.save_result, a.export_video, None, a.quit))
    edit_menu = menus.addMenu("&Edit")
    undo.setShortcut(QKeySequence("Ctrl+Z"))
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    _fill(edit_menu, (undo, redo))
    edit_menu.addAction("Reset landmarks").triggered.connect(reset_landmarks)
    _fill(menus.addMenu("&Live"), (a.live_mode, a.edit_mode, None, a.record, a.virtual_camera, a.capture_neutral, a.clear_neutral, a.mirror))
    view_menu = menus.addMenu("&View")
    _fill(view_menu, (a.overlay, a.result_only, None, *(dock.toggleViewAction() for dock in docks), None, a.reset_layout))
    _fill(menus.addMenu("&Help"), (a.shortcuts, a.about))

    toolbar = QToolBar("Main")
    toolbar.setObjectName("mainToolbar")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    _fill(toolbar, (a.live_mode, a.edit_mode, None, a.record, a.virtual_camera, a.capture_neutral, None, a.mirror, a.overlay, a.result_only))
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)


def show_shortcuts(parent: QWidget, actions: Actions) -> None:
    rows = "".join(f"<tr><td><b>{keys}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>" for keys, what in actions.shortcut_table())
    rows += "<tr><td><b>Ctrl+Z / Ctrl+Shift+Z</b>&nbsp;&nbsp;</td><td>Undo / redo landmark edits</td></tr>"
    rows += "<tr><td><b>Shift+drag</b>&nbsp;&nbsp;</td><td>Move a landmark's whole region</td></tr>"
    QMessageBox.information(parent, "Keyboard shortcuts", f"<table>{rows}</table>")


def show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent,
        "About FES Desktop",
        "<b>FES Desktop</b> — facial expression synthesis: live reenactment, photo expression and "
        "landmark editing, and export.<br>Sample photos: see resources/samples/ATTRIBUTION.md.",
    )
