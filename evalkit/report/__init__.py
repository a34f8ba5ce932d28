"""Summary tables of manifests and metric tables."""
