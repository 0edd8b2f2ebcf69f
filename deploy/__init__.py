"""Deploying several app replicas behind nginx: deploy/compose.yaml, deploy/nginx.conf and the loopback
demo that checks them, deploy/replicas.py (see docs/deploy.md)."""
