"""Training, evaluation and export of the five generator families (imports engine, never the app)."""
