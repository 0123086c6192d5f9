"""Which locked dependency has a wheel where: Python 3.11 on Windows, macOS and Linux.

For every ``name==version`` of requirements.lock it reads the files PyPI's simple index (JSON,
PEP 691) lists for that version and checks each wheel's tags against CPython 3.11 on win_amd64,
macOS arm64 and x86_64 (macOS 11 and later) and manylinux x86_64 (glibc 2.17 and later). It prints
a Markdown table (README, "Where it installs"): a cell is "wheel", "sdist" (pip builds it from
source there) or "-" (nothing installable). Exit 0 always; the table is the result.

    python scripts/check_wheels.py [requirements.lock]
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

INDEX = "https://pypi.org/simple/{}/"
PYTHON = (3, 11)
MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(39, 16, -1)] + ["manylinux2014_x86_64", "manylinux2010_x86_64",
                                                                               "manylinux1_x86_64"]
PLATFORMS: dict[str, list[str]] = {
    "Windows x64": ["win_amd64"],
    "macOS arm64": list(mac_platforms((14, 0), "arm64")),
    "macOS x86_64": list(mac_platforms((14, 0), "x86_64")),
    "Linux x86_64": MANYLINUX,
}


def supported(platforms: list[str]) -> set[Tag]:
    """Every tag a CPython 3.11 interpreter on these platforms accepts."""
    tags = set(cpython_tags(PYTHON, abis=["cp311", "abi3", "none"], platforms=platforms))
    return tags | set(compatible_tags(PYTHON, "cp311", platforms))


def files_of(name: str) -> list[str]:
    request = urllib.request.Request(INDEX.format(canonicalize_name(name)),
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return [entry["filename"] for entry in json.load(response)["files"]]


def availability(name: str, version: str) -> dict[str, str]:
    """Platform label -> 'wheel', 'sdist' or '-' for one locked package."""
    wanted = Version(version)
    wheels: list[frozenset[Tag]] = []
    sdist = False
    for filename in files_of(name):
        if filename.endswith(".whl"):
            try:
                _, file_version, _, tags = parse_wheel_filename(filename)
            except ValueError:
                continue
            if file_version == wanted:
                wheels.append(tags)
        elif filename.endswith((".tar.gz", ".zip")) and f"-{version}." in filename:
            sdist = True
    out = {}
    for label, platforms in PLATFORMS.items():
        accepted = supported(platforms)
        out[label] = "wheel" if any(tags & accepted for tags in wheels) else ("sdist" if sdist else "-")
    return out


def locked(path: Path) -> list[tuple[str, str]]:
    pins = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins.append((name.strip(), version.strip()))
    return pins


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Which locked packages have wheels for Windows, macOS and Linux (Python 3.11).")
    parser.add_argument("lock", nargs="?", type=Path, default=Path(__file__).resolve().parents[1] / "requirements.lock")
    lock = parser.parse_args(argv).lock
    if not lock.is_file():
        parser.error(f"{lock}: no such lock file")
    print("| package | " + " | ".join(PLATFORMS) + " |")
    print("|---|" + "---|" * len(PLATFORMS))
    for name, version in locked(lock):
        try:
            cells = availability(name, version)
        except OSError as exc:
            cells = {label: f"? ({exc.__class__.__name__})" for label in PLATFORMS}
        print(f"| {name}=={version} | " + " | ".join(cells.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
