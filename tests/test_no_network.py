"""Nothing reaches the network: the CLI and the app run under a connect()/sendto() trace.

``strace -f`` follows every thread and child process; any connect() or sendto() to an address
that is not a local (AF_UNIX) socket fails the test, as does ONNX Runtime's telemetry folder
appearing in the (temporary) user cache. strace is a Debian package that ./dev installs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, london_photo

BIN = Path(sys.executable).parent
# A connect() or sendto() naming an address family; AF_UNIX (local sockets: D-Bus, X) is allowed.
CALL = re.compile(r"\b(connect|sendto)\(\d+,.*?sa_family=(AF_\w+)")
TELEMETRY_FOLDER = Path("Microsoft") / "DeveloperTools"


def network_calls(trace: Path) -> list[str]:
    """The lines of an strace log that try to reach an address other than a local socket."""
    return [line for line in trace.read_text(errors="replace").splitlines() if (m := CALL.search(line)) and m.group(2) != "AF_UNIX"]


def traced(tmp_path: Path, name: str, argv: list[str]) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``argv`` under strace with a fresh home and cache; the result and its network calls."""
    strace = shutil.which("strace")
    assert strace, "strace is missing: ./dev setup installs it (apt-get install strace)"
    home = tmp_path / f"home-{name}"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "QT_QPA_PLATFORM": "offscreen",
           "FES_CONFIG_DIR": str(home / "config"), "OMP_NUM_THREADS": "1"}
    env.pop("ORT_DISABLE_TELEMETRY", None)  # the product must switch it off itself
    log = tmp_path / f"{name}.strace"
    done = subprocess.run([strace, "-f", "-qq", "-e", "trace=connect,sendto", "-o", str(log), *argv],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert not (home / ".cache" / TELEMETRY_FOLDER).exists(), f"{name} wrote ONNX Runtime telemetry under the user cache"
    return done, network_calls(log)


def test_fes_edit_on_a_learned_model_makes_no_network_call(tmp_path):
    out = tmp_path / "happy.png"
    done, calls = traced(tmp_path, "edit", [str(BIN / "fes"), "edit", str(london_photo("087")), "--expression", "happy",
                                            "--model", "lgan-london-cpu64", "--backend", "onnxruntime", "-o", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.is_file()
    assert calls == [], calls[:5]


@pytest.mark.slow
def test_the_app_makes_no_network_call(tmp_path):
    shot = tmp_path / "x.png"
    done, calls = traced(tmp_path, "app", [str(BIN / "fes-desktop"), "--screenshot", str(shot), "--frames", "5"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.is_file()
    assert calls == [], calls[:5]


def test_the_trace_sees_a_connection_attempt(tmp_path):
    """The check itself can fail: a process that tries to reach 192.0.2.1 (TEST-NET) is caught."""
    code = "import socket; s = socket.socket(); s.settimeout(0.2)\ntry: s.connect(('192.0.2.1', 9))\nexcept OSError: pass"
    done, calls = traced(tmp_path, "probe", [sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert calls and "AF_INET" in calls[0]
