"""Automation: workflows, triggers, the durable job queue, workers and executors."""
