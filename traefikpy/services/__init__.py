"""traefikpy/services."""
