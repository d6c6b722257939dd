"""Signalling protocol codecs (M3UA, SCCP, TCAP/MAP, ISUP). Nothing here knows about AWS or sockets."""


class DecodeError(ValueError):
    """A message could not be decoded; `layer` names where it failed (for metrics)."""

    def __init__(self, layer: str, message: str) -> None:
        super().__init__(f"{layer}: {message}")
        self.layer = layer
