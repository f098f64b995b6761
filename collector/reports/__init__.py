"""Usage and cost reports: pricing, grouping and rendering over the store's usage events."""
