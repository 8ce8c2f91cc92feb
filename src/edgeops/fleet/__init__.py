"""Devices, releases, rollouts; `agent/` runs on a device; the data forwarder."""
