"""Metrics (Prometheus), request ids and JSON logs, security headers."""
