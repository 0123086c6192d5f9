"""Errors the engine raises for bad input; the CLI and the app turn each into one clear message."""


class FesError(Exception):
    """Base class: every error a user can cause and fix."""


class InputError(FesError):
    """A file that cannot be read as what it should be (image, video, JSON, model)."""


class NoFaceError(FesError):
    """No usable face was found."""


class FaceTooSmallError(NoFaceError):
    """A face was found but is too small to edit convincingly."""


class ModelError(FesError):
    """A model file or manifest is missing, corrupt or incompatible."""


class BackendError(FesError):
    """A backend cannot run a model on this machine."""


class OutputError(FesError):
    """An output path cannot be written."""


class CameraError(FesError):
    """A camera cannot be opened or stopped delivering frames."""
