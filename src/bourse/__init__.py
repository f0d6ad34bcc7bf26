"""Bourse: an exchange broker platform, wire-compatible with the MEXC Spot V3 and Broker APIs."""

from bourse.native import guard

__version__ = "0.1.0"

guard()  # before anything imports the (maybe compiled) matching core
