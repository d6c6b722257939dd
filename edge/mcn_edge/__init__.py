"""Pieces both edge services (mcn-gateway, mcn-receiver) share.

The durable spool, forwarding to Lambda, the HTTP health/metrics server and configuration loading.
"""
