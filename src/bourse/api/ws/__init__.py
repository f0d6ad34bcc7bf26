"""MEXC Spot V3 WebSocket streams (``/ws``): channels, protobuf frames, connections."""
