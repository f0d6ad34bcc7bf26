"""MEXC Spot V3 wire format: signing, parameters, errors, JSON shapes, endpoints."""
