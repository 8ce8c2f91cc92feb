"""The device side of the fleet protocol: a Linux agent that polls, verifies updates with TUF,
installs them into A/B slots and confirms or reverts by itself (docs/fleet-protocol.md)."""
