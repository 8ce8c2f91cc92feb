"""The HTTP server: REST API under /api/v1, Edge Impulse-compatible ingestion, MQTT bridge."""
