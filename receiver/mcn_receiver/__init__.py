"""mcn-receiver: an SMPP bind to the SMSC for delivery receipts and MO keywords.

Spools what the SMSC delivers durably before answering, and forwards it to the receipts function.
"""
