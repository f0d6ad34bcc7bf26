"""Repositories: the SQL of each area, behind methods named after what they do."""
