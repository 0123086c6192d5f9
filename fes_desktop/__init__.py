"""FES Desktop: the PySide6 app around the engine (live reenactment, photo editing, export).

Layers, as in napari: the plain-Python model modules (``settings``, ``sources``, ``cameras``,
``landmarks``, ``capabilities``, ``params``, ``errors``, ``mailbox``, ``workers.recording``) never
import Qt; the Qt layer (``main_window``, ``panels``, ``widgets``, ``workers``) subscribes to them.
Engine work runs in worker QObjects moved to QThreads; the UI thread only paints and edits.
"""
