"""Settings: typed round trip, recovery from corrupt or invalid files, and surviving a restart."""

from __future__ import annotations

import json
from dataclasses import replace

from engine.geometry.retarget import RegionGains
from fes_desktop import settings as settings_module
from fes_desktop.settings import (
    SCHEMA_VERSION,
    ExpressionSettings,
    ExportSettings,
    ModelSettings,
    Settings,
    SettingsStore,
    SourceSettings,
    ViewSettings,
)
from tests.desktop.conftest import edit_settings, wait_edit, wait_target


def test_the_config_dir_follows_the_environment(config_dir):
    assert settings_module.config_dir() == config_dir
    assert SettingsStore().path == config_dir / "settings.json"


def test_settings_round_trip(config_dir):
    store = SettingsStore()
    settings = Settings(
        source=SourceSettings(kind="camera", camera="USB cam", resolution=(1280, 720), fps=30.0, mirror=False),
        expression=ExpressionSettings(label="sad", intensity=1.25, gains=RegionGains(mouth=1.5), smoothing=0.2),
        export=ExportSettings(format="gif", fps=12.5, long_side=512, sidecar=False),
        view=ViewSettings(layout="result", overlay=True, mode="edit"),
    )
    store.save(settings)
    assert json.loads(store.path.read_text())["schema_version"] == SCHEMA_VERSION
    loaded = store.load()
    assert loaded.message is None
    assert loaded.settings == settings


def test_a_corrupt_file_is_moved_aside_and_defaults_load(config_dir):
    store = SettingsStore()
    config_dir.mkdir(parents=True)
    store.path.write_text('{"source": {"kind": "clip"', encoding="utf-8")
    loaded = store.load()
    assert loaded.settings == Settings()
    assert loaded.moved_to is not None and loaded.moved_to.name.startswith("settings.json.corrupt-")
    assert loaded.moved_to.read_text() == '{"source": {"kind": "clip"'
    assert not store.path.exists()
    assert "moved to" in loaded.message and "defaults" in loaded.message


def test_invalid_fields_fall_back_one_by_one(config_dir):
    store = SettingsStore()
    config_dir.mkdir(parents=True)
    data = json.loads(Settings().to_json())
    data["expression"].update(label="ecstatic", intensity=0.75, smoothing="lots")
    data["export"]["fps"] = 25
    data["view"] = ["not", "an", "object"]
    store.path.write_text(json.dumps(data), encoding="utf-8")
    loaded = store.load()
    assert loaded.settings.expression.label == ""  # invalid label: default
    assert loaded.settings.expression.intensity == 0.75  # valid neighbour kept
    assert loaded.settings.expression.smoothing == ExpressionSettings().smoothing
    assert loaded.settings.export.fps == 25.0  # an int where a float goes is fine
    assert loaded.settings.view == ViewSettings()
    assert "expression.smoothing" in loaded.message and "view" in loaded.message


def test_settings_survive_a_restart(qtbot, make_window, config_dir):
    first = make_window(replace(edit_settings(), model=ModelSettings(backend="onnxruntime-fp32")))
    wait_target(qtbot, first)
    serial = first.edits.serial
    first.expression_panel.choose_label("anger")
    first.expression_panel.intensity.spin.setValue(120)
    wait_edit(qtbot, first, serial)
    first.set_mirror(False)
    first.commands.overlay.trigger()
    first.commands.result_only.trigger()
    first.expression_panel.gains["jaw"].spin.setValue(60)
    first.export_panel.fps_spin.setValue(12.0)
    first.export_panel.fps_spin.editingFinished.emit()
    first.docks["performance"].hide()
    first.resize(780, 640)  # within the offscreen screen (800 x 800): restoreGeometry keeps it
    first.close()
    assert SettingsStore().path.is_file()

    second = make_window()  # from the stored settings
    wait_target(qtbot, second)
    s = second.settings
    assert (s.expression.label, s.expression.intensity) == ("anger", 1.2)
    assert s.expression.gains == RegionGains(jaw=0.6)
    assert s.source.mirror is False and s.view.overlay and s.view.layout == "result" and s.view.mode == "edit"
    assert s.model.backend == "onnxruntime-fp32" and s.export.fps == 12.0
    assert second.expression_panel.label == "anger"
    assert second.expression_panel.gains["jaw"].value() == 0.6
    assert second.commands.overlay.isChecked() and second.commands.result_only.isChecked()
    assert not second.commands.mirror.isChecked()
    assert second.model_panel.backend_combo.currentData() == "onnxruntime-fp32"
    assert not second.docks["performance"].isVisible()
    assert (second.width(), second.height()) == (780, 640)


def test_a_corrupt_settings_file_recovers_with_a_message(qtbot, make_window, config_dir):
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_bytes(b"\x00\xff garbage")
    window = make_window()
    wait_target(qtbot, window)
    assert window.settings.expression == Settings().expression
    assert "moved to" in window.notice.text()
    assert [p.name.startswith("settings.json.corrupt-") for p in config_dir.iterdir()] == [True]


def test_a_window_layout_that_is_not_base64_recovers_on_the_real_start_path(qtbot, make_window, config_dir):
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text(json.dumps({"window": {"geometry": "!!!notbase64", "state": "AAAA"}}))
    window = make_window()  # MainWindow.from_store(SettingsStore()), as fes-desktop starts
    wait_target(qtbot, window)
    assert window.settings.window == Settings().window
    assert "moved to" in window.notice.text() and "window layout" in window.notice.text()
    assert [p.name.startswith("settings.json.corrupt-") for p in config_dir.iterdir()] == [True]
