"""Edge SIGTRAN gateway: M3UA/SCCP/TCAP/MAP/ISUP in, batched durable events out."""

__version__ = "0.1.0"
