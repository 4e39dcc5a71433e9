"""vmop: run virtual machines on an HCI platform the Kubernetes way."""

__version__ = "0.1.0"
