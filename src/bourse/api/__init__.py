"""HTTP APIs: ``mexc`` (MEXC Spot V3 wire compatibility)."""
