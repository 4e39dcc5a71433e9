"""The operator process's composition root (compose.py) and kopf's set-up (kopf_settings.py)."""
