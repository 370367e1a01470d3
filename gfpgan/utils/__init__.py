"""Small utilities: distributed helpers, checkpoints, weights, images."""
