"""Developer kit: the embedded AWS, the local Lambda runtime, the local SMSC, `mcn invoke`/`local up`/`demo`.

Not shipped in any image or layer.
"""
