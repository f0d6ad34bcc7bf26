"""Repositories: the store's SQL, one module per area."""
