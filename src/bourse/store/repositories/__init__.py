"""Repositories: the SQL of the services, one module per area."""
