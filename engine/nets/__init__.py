"""Generator networks of the five paper families (inference side), registered by name."""
