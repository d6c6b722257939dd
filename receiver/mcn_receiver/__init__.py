"""mcn-receiver: keeps an SMPP bind to the SMSC, spools delivery receipts and MO keywords durably,
forwards them to the receipts function."""
