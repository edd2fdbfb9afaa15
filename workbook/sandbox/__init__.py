"""The local sandbox: a moto server for the control plane (server.py)."""
