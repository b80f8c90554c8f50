"""traefikpy/rules."""
