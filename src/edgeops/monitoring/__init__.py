"""Monitoring: telemetry store, reference profiles, drift and performance detectors, monitors,
alerts, device health and collect-on-drift."""
