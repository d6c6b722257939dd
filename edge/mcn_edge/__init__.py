"""Pieces both edge services (mcn-gateway, mcn-receiver) share: durable spool, forwarding to Lambda,
HTTP health/metrics, configuration loading."""
