"""MEXC Spot V3 WebSocket schema: our .proto files and the modules compiled from them."""
