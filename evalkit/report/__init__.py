"""Tables, rate–distortion curves and reports built from manifests and metric tables."""
