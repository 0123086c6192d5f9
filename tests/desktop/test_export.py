"""Export: offline renders and live recordings read back with the expected frames; cancel and
unwritable paths leave nothing behind."""

from __future__ import annotations

from dataclasses import replace

from engine.io import VideoReader, read_landmarks_json, sidecar_path
from fes_desktop.settings import ExportSettings
from fes_desktop.sources import DRIVING_CLIP
from tests.desktop.conftest import RENDER_MS, STARTUP_MS, edit_settings, wait_live, wait_target

EXPORT_MS = 120_000


def clip_frames() -> int:
    with VideoReader(DRIVING_CLIP) as reader:
        return sum(1 for _ in reader)


def test_offline_mp4_export_has_every_frame_and_a_sidecar(qtbot, make_window, tmp_path):
    settings = replace(edit_settings(), export=ExportSettings(format="mp4", fps=25.0, long_side=256, sidecar=True))
    window = make_window(settings)
    wait_target(qtbot, window)
    output = tmp_path / "out" / "render.mp4"
    output.parent.mkdir()

    window.exports.start_offline(DRIVING_CLIP, output)
    qtbot.waitUntil(lambda: window.export_panel.last_summary is not None, timeout=EXPORT_MS)

    expected = clip_frames()
    with VideoReader(output) as reader:
        assert reader.size == (256, 256)
        assert reader.fps == 25.0
        assert sum(1 for _ in reader) == expected
    track = read_landmarks_json(sidecar_path(output))
    assert track.image_size == (256, 256)
    assert len(track.frames) == expected - window.export_panel.last_summary.no_face_frames
    assert window.export_panel.last_summary.frames == expected
    assert window.export_panel.progress.value() == expected
    assert sorted(p.name for p in output.parent.iterdir()) == ["render.mp4", "render.mp4.landmarks.json"]


def test_a_cancelled_png_export_leaves_nothing(qtbot, make_window, tmp_path):
    settings = replace(edit_settings(), export=ExportSettings(format="png", long_side=256))
    window = make_window(settings)
    wait_target(qtbot, window)
    parent = tmp_path / "exports"
    parent.mkdir()

    window.exports.start_offline(DRIVING_CLIP, parent / "frames")
    qtbot.waitUntil(lambda: window.export_panel.progress.value() >= 3, timeout=EXPORT_MS)
    window.export_panel.cancel_button.click()
    qtbot.waitUntil(lambda: not window.export_panel.running, timeout=EXPORT_MS)

    assert "cancelled" in window.export_panel.export_status.text()
    assert list(parent.iterdir()) == []  # neither the folder nor a temporary one
    assert window.export_panel.last_summary is None


def test_an_unwritable_output_says_what_to_do(qtbot, make_window, tmp_path):
    window = make_window(edit_settings())
    wait_target(qtbot, window)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    window.exports.start_offline(DRIVING_CLIP, blocker / "render.mp4")
    qtbot.waitUntil(lambda: not window.export_panel.running, timeout=EXPORT_MS)

    assert [m.title for m in window.errors.shown] == ["Cannot write the output"]
    assert "write access" in window.errors.shown[0].hint
    assert "Export failed" in window.export_panel.export_status.text()


def test_recording_the_live_result(qtbot, make_window, tmp_path):
    folder = tmp_path / "recordings"
    settings = replace(edit_settings(), export=ExportSettings(format="gif", fps=10.0, long_side=160, folder=str(folder)))
    window = make_window(settings)
    wait_target(qtbot, window)

    window.commands.record.trigger()  # from Edit mode: switches to Live and records
    qtbot.waitUntil(lambda: window.exports.last.active, timeout=STARTUP_MS)
    assert window.mode == "live"
    wait_live(qtbot, window, frames=12)
    window.commands.record.trigger()
    qtbot.waitUntil(lambda: not window.exports.last.active and window.exports.last.path is not None, timeout=RENDER_MS)

    path = window.exports.last.path
    assert path.parent == folder and path.suffix == ".gif"
    with VideoReader(path) as reader:
        frames = sum(1 for _ in reader)
        assert reader.size == (160, 160)
    assert frames == window.exports.last.frames >= 5
    track = read_landmarks_json(sidecar_path(path))
    assert track.fps == 10.0 and 0 < len(track.frames) <= frames
    assert sorted(p.name for p in folder.iterdir()) == [path.name, path.name + ".landmarks.json"]
