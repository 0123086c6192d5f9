"""Engine exceptions turned into messages a user can act on: what happened and what to do (no Qt)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from engine.errors import (
    BackendError,
    CameraError,
    FaceTooSmallError,
    InputError,
    ModelError,
    NoFaceError,
    OutputError,
)
from engine.pipeline import virtualcam


class Context(str, Enum):
    """What the user was doing when the error happened; it shapes the advice."""

    CAMERA = "camera"
    SOURCE = "source"
    TARGET = "target"
    MODEL = "model"
    NEUTRAL = "neutral"
    EXPORT = "export"
    RECORD = "record"
    EDIT = "edit"
    BUILD = "build"
    VIRTUAL_CAMERA = "virtual_camera"


@dataclass(frozen=True)
class UserMessage:
    """title: a few words; text: what happened; hint: what to do about it; context: see Context."""

    title: str
    text: str
    hint: str
    context: Context

    def full_text(self) -> str:
        return f"{self.text}\n\n{self.hint}"


_NO_FACE_HINT = {
    Context.TARGET: "Use a photo with one clearly visible, roughly frontal face at least 100 pixels "
    "across, or pick another face of this photo in the Target panel.",
    Context.NEUTRAL: "Face the camera with a relaxed face, make sure it is well lit and fully in the "
    "picture, then press Capture neutral again.",
}
_DEFAULT_NO_FACE_HINT = "Make sure a face is clearly visible, well lit and roughly frontal."


def describe_error(error: BaseException, context: Context) -> UserMessage:
    """A message for ``error`` raised while doing ``context``."""
    text = str(error) or type(error).__name__
    if isinstance(error, FaceTooSmallError):
        return UserMessage("Face too small", text, "Use a larger or closer photo of the face; " + _NO_FACE_HINT.get(context, _DEFAULT_NO_FACE_HINT), context)
    if isinstance(error, NoFaceError):
        return UserMessage("No face found", text, _NO_FACE_HINT.get(context, _DEFAULT_NO_FACE_HINT), context)
    if isinstance(error, CameraError):
        return UserMessage(
            "Camera unavailable",
            text,
            "Check that the camera is connected and that no other program (a video call, a browser "
            "tab) is using it. Meanwhile the bundled driving clip is used; choose a camera again in "
            "the Source panel when it is free.",
            context,
        )
    if isinstance(error, ModelError):
        return UserMessage(
            "Model cannot be loaded",
            text,
            "The model's files are missing, corrupt or from an incompatible version: reinstall or "
            "re-export the model, or choose another one in the Model panel. The classical warp is "
            "used meanwhile.",
            context,
        )
    if isinstance(error, BackendError):
        return UserMessage(
            "Backend unavailable",
            text,
            "Choose the backend \"auto\" in the Model panel to let FES Desktop pick one that runs here.",
            context,
        )
    if isinstance(error, OutputError) and context == Context.VIRTUAL_CAMERA:
        return _virtual_camera_message(text)
    if isinstance(error, OutputError):
        return UserMessage(
            "Cannot write the output",
            text,
            "Choose a folder you have write access to and that has enough free space, then try again.",
            context,
        )
    if isinstance(error, InputError):
        what = "video or photo" if context in (Context.SOURCE, Context.EXPORT) else "photo"
        return UserMessage(
            "Cannot read the file",
            text,
            f"Check that the file is a {what} in a common format (JPEG, PNG, MP4, ...) and is not "
            "damaged or still being copied.",
            context,
        )
    return UserMessage(
        "Unexpected error",
        f"{type(error).__name__}: {text}",
        "This is a bug. The log file in the settings folder has the details; please report it.",
        context,
    )


def _virtual_camera_message(text: str) -> UserMessage:
    """In the app's words, not the command line's: what is missing and where to get it."""
    if not virtualcam.available():
        text = "The virtual camera needs the optional pyvirtualcam package, which is not installed."
    elif "virtual camera stopped" not in text:
        text = "No virtual camera device was found on this computer."
    return UserMessage(
        "Virtual camera unavailable",
        text,
        "Install a virtual camera (OBS Studio brings one on Windows and macOS; on Linux, v4l2loopback) "
        "and FES Desktop's \"virtualcam\" extra, then turn Virtual camera on again. The live view "
        "keeps running meanwhile.",
        Context.VIRTUAL_CAMERA,
    )
