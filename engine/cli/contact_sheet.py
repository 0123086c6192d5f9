"""A contact sheet: the input photo and each label's edit side by side, captioned."""

from __future__ import annotations

import math

import cv2
import numpy as np

TILE_HEIGHT = 320
CAPTION_HEIGHT = 36
COLUMNS = 3


def contact_sheet(tiles: list[tuple[str, np.ndarray]], tile_height: int = TILE_HEIGHT, columns: int = COLUMNS) -> np.ndarray:
    """One (H, W, 3) uint8 BGR image of ``tiles`` in a grid, each scaled to ``tile_height`` px
    high and captioned below with its name.

    tiles: (caption, (h, w, 3) uint8 BGR image) pairs, in reading order; all the same size.
    """
    if not tiles:
        raise ValueError("a contact sheet needs at least one image")
    h, w = tiles[0][1].shape[:2]
    tile_w = max(1, round(w * tile_height / h))
    rows = math.ceil(len(tiles) / columns)
    cell_h = tile_height + CAPTION_HEIGHT
    sheet = np.full((rows * cell_h, min(columns, len(tiles)) * tile_w, 3), 255, np.uint8)
    for i, (caption, image) in enumerate(tiles):
        top, left = (i // columns) * cell_h, (i % columns) * tile_w
        sheet[top:top + tile_height, left:left + tile_w] = cv2.resize(image, (tile_w, tile_height), interpolation=cv2.INTER_AREA)
        (text_w, text_h), _ = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
        origin = (left + max(0, (tile_w - text_w) // 2), top + tile_height + (CAPTION_HEIGHT + text_h) // 2)
        cv2.putText(sheet, caption, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2, cv2.LINE_AA)
    return sheet
