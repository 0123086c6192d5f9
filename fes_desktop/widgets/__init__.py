"""Custom widgets: the frame view, the landmark canvas and the notice bar."""
