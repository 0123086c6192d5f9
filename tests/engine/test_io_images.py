"""engine.io.images on real photos and on the awkward files users actually have."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.errors import InputError, OutputError
from engine.io.images import read_image, write_image

DATA = Path(__file__).resolve().parents[1] / "data"
LISA = DATA / "cc0" / "lisa_lisa1.jpg"
LONDON = DATA / "london" / "neutral" / "001.jpg"

@pytest.fixture(autouse=True, scope="module")
def require_test_photos() -> None:
    """Missing test data fails every test here; it never skips them."""
    assert LISA.exists(), f"test data missing: {LISA} (tests/data is part of the repository)"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real face photo, (H, W, 3) uint8 BGR, decoded by OpenCV as the reference."""
    return cv2.imread(str(LONDON))


def rgb_image(bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_reads_jpeg_as_bgr_like_opencv(photo: np.ndarray) -> None:
    image = read_image(LONDON)
    assert image.dtype == np.uint8 and image.shape == photo.shape and image.flags.c_contiguous
    assert np.abs(image.astype(int) - photo).mean() < 1.0
    blue_ratio = image[..., 0].mean() / image[..., 2].mean()
    assert blue_ratio == pytest.approx(photo[..., 0].mean() / photo[..., 2].mean(), rel=0.01)


# Orientation tag -> how the stored pixels must be turned to look upright.
ORIENTATIONS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, k=1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(tmp_path: Path, photo: np.ndarray, orientation: int) -> None:
    stored = photo[:200, :150]
    path = tmp_path / "rotated.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    rgb_image(stored).save(path, exif=exif)
    np.testing.assert_array_equal(read_image(path), ORIENTATIONS[orientation](stored))


def test_exif_rotated_jpeg_from_a_phone(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb_image(photo).save(path, quality=95, exif=exif)
    image = read_image(path)
    upright = np.rot90(photo, k=-1)
    assert image.shape == upright.shape == (photo.shape[1], photo.shape[0], 3)
    assert np.abs(image.astype(int) - upright).mean() < 3.0


def test_gray_png_becomes_three_equal_channels(tmp_path: Path, photo: np.ndarray) -> None:
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    image = read_image(tmp_path / "gray.png")
    assert image.shape == photo.shape
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], gray)


def test_rgba_png_drops_alpha_without_compositing(tmp_path: Path, photo: np.ndarray) -> None:
    bgra = cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA)
    bgra[:100, :, 3] = 0
    bgra[100:200, :, 3] = 128
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    np.testing.assert_array_equal(read_image(tmp_path / "alpha.png"), photo)


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path: Path, photo: np.ndarray) -> None:
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "gray16.png"), gray.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_image(tmp_path / "gray16.png")[..., 1], gray)
    cv2.imwrite(str(tmp_path / "colour16.png"), photo.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_image(tmp_path / "colour16.png"), photo)


def test_sixteen_bit_tiff(tmp_path: Path, photo: np.ndarray) -> None:
    cv2.imwrite(str(tmp_path / "colour16.tif"), photo.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_image(tmp_path / "colour16.tif"), photo)


def test_palette_png_is_looked_up(tmp_path: Path, photo: np.ndarray) -> None:
    indexed = rgb_image(photo).quantize(32)
    indexed.save(tmp_path / "palette.png")
    expected = cv2.cvtColor(np.asarray(indexed.convert("RGB")), cv2.COLOR_RGB2BGR)
    np.testing.assert_array_equal(read_image(tmp_path / "palette.png"), expected)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".tif", ".PNG"])
def test_lossless_round_trip(tmp_path: Path, photo: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    write_image(path, photo)
    np.testing.assert_array_equal(read_image(path), photo)
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".webp"])
def test_lossy_round_trip(tmp_path: Path, photo: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    write_image(path, photo)
    assert np.abs(read_image(path).astype(int) - photo).mean() < 2.0


def test_write_gray_image(tmp_path: Path, photo: np.ndarray) -> None:
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    write_image(tmp_path / "mask.png", gray)
    np.testing.assert_array_equal(read_image(tmp_path / "mask.png")[..., 2], gray)


def test_truncated_jpeg_is_an_input_error(tmp_path: Path) -> None:
    data = LISA.read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.jpg: not a readable image \(.*truncated"):
        read_image(path)


def test_text_file_named_jpg_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n")
    with pytest.raises(InputError, match=r"notes\.jpg: not a readable image"):
        read_image(path)


def test_missing_file_and_folder_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="is a folder"):
        read_image(tmp_path)


def test_unsupported_output_suffix(tmp_path: Path, photo: np.ndarray) -> None:
    with pytest.raises(OutputError, match=r"unsupported image format '\.gif'"):
        write_image(tmp_path / "out.gif", photo)
    assert os.listdir(tmp_path) == []


def test_wrong_array_is_a_value_error(tmp_path: Path, photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "out.png", photo.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        write_image(tmp_path / "out.png", photo[..., :2])


def test_full_disk_leaves_previous_image(tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "result.png"
    write_image(path, photo)
    before = path.read_bytes()
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if ".tmp-" in os.readlink(f"/proc/self/fd/{fd}"):
            real_write(fd, bytes(data)[:1000])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OutputError, match=r"result\.png: the disk is full"):
        write_image(path, 255 - photo)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["result.png"]


def test_missing_output_folder(tmp_path: Path, photo: np.ndarray) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_image(tmp_path / "missing" / "out.png", photo)


@pytest.mark.slow
def test_large_photo_reads_with_bounded_memory(tmp_path: Path, photo: np.ndarray) -> None:
    """An 8000 x 6000 JPEG (137 MB as BGR) must read without float or extra full-size copies."""
    path = tmp_path / "large.jpg"
    cv2.imwrite(str(path), cv2.resize(photo, (8000, 6000)), [cv2.IMWRITE_JPEG_QUALITY, 85])
    script = textwrap.dedent(
        f"""
        import resource
        from engine.io.images import read_image
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        image = read_image({str(path)!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(image.shape, image.dtype)
        print((after - before) // 1024)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    description, grown_mb = result.stdout.splitlines()
    assert description == "(6000, 8000, 3) uint8"
    grown_mb = int(grown_mb)
    # Pillow's 4-byte buffer (183 MB) + the 137 MB result + decoder state; a float copy adds 550 MB.
    assert grown_mb < 450, result.stdout
