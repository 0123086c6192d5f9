"""The app's live worker holds steady memory: no per-frame growth, no torch for the warp.

The 30-minute figure comes from ``scripts/app_soak.py`` (the whole app; README "Memory"); these
tests run the real :class:`~fes_desktop.workers.live_worker.LiveClient` on the bundled clip and
the default target, consuming frames as the UI does, and fail on the leaks that matter: a Python
object or a frame kept per frame, and the 210 MB of torch loaded for a model that never uses it.
"""

from __future__ import annotations

import gc
import subprocess
import sys

from engine.cli.bench import rss_mb
from engine.io import read_image
from engine.synthesis.photo_generators import WARP
from fes_desktop.params import LiveParams
from fes_desktop.sources import DEFAULT_TARGET, SourceSpec
from fes_desktop.workers.live_types import LiveConfig, LiveTarget
from fes_desktop.workers.live_worker import LiveClient

WARM_FRAMES = 60
MEASURED_FRAMES = 250  # 10 s of the 25 fps clip per half
MAX_OBJECT_GROWTH = 2_000  # Python objects; one kept per frame would be >= 250
MAX_RSS_GROWTH_MB = 40.0  # one 640 px frame kept per frame would be >= 225 MB


def _frames_consumed(qtbot, client: LiveClient, count: int, seen: list[int]) -> None:
    """Take frames from the mailbox as the UI thread does until ``count`` more were taken."""
    target = seen[0] + count

    def take() -> bool:
        if client.worker.frames.take() is not None:
            seen[0] += 1
        return seen[0] >= target

    qtbot.waitUntil(take, timeout=120_000)


def test_the_live_worker_keeps_no_memory_per_frame(qtbot):
    client = LiveClient()
    seen = [0]
    try:
        image = read_image(DEFAULT_TARGET)
        client.configure(LiveConfig(SourceSpec.clip(), LiveTarget(1, DEFAULT_TARGET, image, None), WARP, "auto", LiveParams()))
        _frames_consumed(qtbot, client, WARM_FRAMES, seen)
        gc.collect()
        objects_start, rss_start = len(gc.get_objects()), rss_mb()
        _frames_consumed(qtbot, client, MEASURED_FRAMES, seen)
        gc.collect()
        objects_mid, rss_mid = len(gc.get_objects()), rss_mb()
        _frames_consumed(qtbot, client, MEASURED_FRAMES, seen)
        gc.collect()
        objects_end, rss_end = len(gc.get_objects()), rss_mb()
    finally:
        client.close()
    # The second half must not grow on the first: whatever the first half allocated once (caches,
    # pools) is there already, so growth here is growth per frame.
    assert objects_end - objects_mid <= MAX_OBJECT_GROWTH, (objects_start, objects_mid, objects_end)
    assert rss_end - rss_mid <= MAX_RSS_GROWTH_MB, (rss_start, rss_mid, rss_end)


def test_a_live_run_on_the_warp_never_imports_torch():
    """Listing the backends (the model panel does) and running the warp live must not pull in torch."""
    code = (
        "import sys\n"
        "from engine.backends import candidates\n"
        "from engine.api import ReenactConfig, Reenactor\n"
        "from engine.io import read_image\n"
        "from fes_desktop.sources import DEFAULT_TARGET\n"
        "pairs = candidates()\n"
        "assert ('torch', 'fp32') in pairs, pairs\n"
        "reenactor = Reenactor.create(ReenactConfig(target_image=read_image(DEFAULT_TARGET), model='warp'))\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False", "torch was imported"
