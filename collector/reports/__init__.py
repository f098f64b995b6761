"""Reports over the store: usage and cost (``usage``)."""
