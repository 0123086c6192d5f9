"""Controllers: one per concern of the main window, which only lays out and routes."""
