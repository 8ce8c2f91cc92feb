"""Many simulated devices in one process, Linux-style (A/B folders) and MCU-style (two flash
slots and an MCUboot-like bootloader), with faults to inject: power cuts, bad downloads,
attacks on the metadata, releases that fail their health check."""
