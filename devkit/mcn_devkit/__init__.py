"""Developer kit: the embedded AWS, the local Lambda runtime, the local SMSC, SIGTRAN test peers,
and the `mcn invoke` / `mcn local up` / `mcn demo` commands.

Not shipped in any image or layer.
"""
