"""Orchestration of one pass per kind: observe, plan, perform, status. No kopf."""
