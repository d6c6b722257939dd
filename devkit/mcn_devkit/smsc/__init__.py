"""Local SMSC peer (node-smpp) and its Python harness, shared by tests, benchmarks and the demo."""

from mcn_devkit.smsc.harness import LocalSmsc, ReceivedSubmit, SmscError

__all__ = ["LocalSmsc", "ReceivedSubmit", "SmscError"]
