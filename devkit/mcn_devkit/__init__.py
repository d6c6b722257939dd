"""Developer kit: the embedded AWS, the local Lambda runtime, the local SMSC and SIGTRAN test peers.

Not shipped in any image or layer.
"""
