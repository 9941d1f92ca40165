"""The gateway: the HTTP service that holds the provider key (what `serve` runs)."""
