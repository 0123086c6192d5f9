"""Reading photos into (H, W, 3) uint8 BGR arrays and writing them back, atomically.

Decoding uses Pillow, which detects truncated files (OpenCV silently fills the missing part with
grey) and reads EXIF orientation; encoding uses OpenCV, into memory, so the bytes reach the disk
through :func:`engine.io.atomic.write_bytes_atomic` and a full disk is reported precisely.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import InputError, OutputError
from engine.io.atomic import write_bytes_atomic
from engine.io.files import check_input_file

IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
"""File name suffixes (lower case) that :func:`write_image` can encode and sources treat as photos."""

_ENCODE_PARAMS: dict[str, list[int]] = {
    ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95],
    ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95],
    ".png": [cv2.IMWRITE_PNG_COMPRESSION, 3],
    ".webp": [cv2.IMWRITE_WEBP_QUALITY, 95],
    ".bmp": [],
    ".tif": [],
    ".tiff": [],
}

_STRIP_BYTES = 8 << 20
_GRAY_MODES = frozenset({"1", "LA", "La"})
_NUMERIC_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

# What Pillow raises for files it cannot decode: OSError covers unknown formats
# (UnidentifiedImageError) and truncation; plugins also raise these for corrupt headers.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    struct.error,
    Image.DecompressionBombError,
)


def read_image(path: Path | str) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 BGR array, upright.

    Accepts JPEG, PNG, WebP, BMP, TIFF and whatever else Pillow decodes; for animated or
    multi-page files the first frame is read. Conversions:

    - EXIF orientation is applied, so the array is the photo as a viewer shows it.
    - Grey (1-bit or 8-bit) and palette images become three equal or palette-looked-up channels.
    - Alpha is dropped, not composited: transparent pixels keep whatever colour they store.
    - 16-bit samples are scaled to 8 bits (``round(v / 257)``); 32-bit integer grey is read as
      16-bit (clipped to 0..65535); float grey is read as 0..1 when its maximum is at most 1,
      else as 0..255.
    - CMYK, YCbCr and other modes are converted by Pillow.

    Memory stays within Pillow's decoded buffer (4 bytes a pixel) plus the result (3 bytes a
    pixel) plus a few MB: there is no float copy and no full-size intermediate. An 8000 x 6000
    photo peaks near 0.35 GB.

    Raises:
        InputError: the file is missing, is a folder, FIFO or device, is not an image, or is
            truncated or corrupt.
    """
    path = check_input_file(path, "an image")
    try:
        with Image.open(path) as image:
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return _to_bgr(image)
    except UnidentifiedImageError as error:
        raise InputError(f"{path}: not a readable image (unknown or unsupported format)") from error
    except _DECODE_ERRORS as error:
        raise InputError(f"{path}: not a readable image ({error})") from error


def _to_bgr(image: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image of any mode to (H, W, 3) uint8 BGR."""
    if image.mode in _NUMERIC_MODES:
        gray = _numeric_to_uint8(np.asarray(image))
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if image.mode in _GRAY_MODES:
        image = image.convert("L")
    elif image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return _copy_in_strips(image, cv2.COLOR_GRAY2BGR if image.mode == "L" else cv2.COLOR_RGB2BGR)


def _copy_in_strips(image: Image.Image, code: int) -> np.ndarray:
    """Copy an "L" or "RGB" Pillow image into a new (H, W, 3) uint8 BGR array, a strip at a time.

    ``np.asarray(image)`` would first build the whole image as ``bytes`` (twice, briefly) before
    the colour conversion copies it again; strips keep the extra memory to ``_STRIP_BYTES``.
    """
    width, height = image.size
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, _STRIP_BYTES // (width * 3))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = np.asarray(image.crop((0, top, width, bottom)))
        cv2.cvtColor(strip, code, dst=out[top:bottom])
    return out


def _numeric_to_uint8(values: np.ndarray) -> np.ndarray:
    """(H, W) 16/32-bit integer or float grey -> (H, W) uint8; integers take no float copy."""
    if values.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(values)) <= 1.0 else 1.0
        return np.clip(np.nan_to_num(values) * scale + 0.5, 0, 255).astype(np.uint8)
    if values.dtype.itemsize == 2:
        wide = values.astype(np.uint32)
    else:
        wide = np.clip(values, 0, 65535).astype(np.uint32)
    wide += 128
    wide //= 257
    return wide.astype(np.uint8)


def write_image(path: Path | str, image: np.ndarray) -> None:
    """Write ``image`` atomically in the format its suffix names.

    Args:
        path: destination; the suffix (.png, .jpg/.jpeg, .webp, .bmp, .tif/.tiff, any case)
            picks the format. JPEG and WebP use quality 95; PNG compression level 3.
        image: (H, W, 3) uint8 BGR, or (H, W) uint8 grey.

    Raises:
        OutputError: unsupported suffix, unwritable folder, full disk, or encoder failure. A file
            already at ``path`` is left untouched whenever this raises.
        ValueError: ``image`` has the wrong shape or dtype (a programming error).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _ENCODE_PARAMS:
        supported = ", ".join(sorted(_ENCODE_PARAMS))
        raise OutputError(f"cannot write {path}: unsupported image format {suffix or '(none)'!r} (use {supported})")
    _check_image(image)
    try:
        ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image), _ENCODE_PARAMS[suffix])
    except cv2.error as error:
        raise OutputError(f"cannot write {path}: the {suffix} encoder failed ({error})") from error
    if not ok:
        raise OutputError(f"cannot write {path}: the {suffix} encoder failed")
    write_bytes_atomic(path, encoded)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 numpy array, got {getattr(image, 'dtype', type(image))}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or image.size == 0:
        raise ValueError(f"expected an (H, W, 3) BGR or (H, W) grey image, got shape {image.shape}")
