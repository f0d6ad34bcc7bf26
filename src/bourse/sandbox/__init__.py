"""Sandbox pieces: demo listings, simulated chain, demo market maker."""
