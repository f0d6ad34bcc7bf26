"""Bourse: an exchange broker platform, wire-compatible with the MEXC Spot V3 and Broker APIs."""

__version__ = "0.1.0"
