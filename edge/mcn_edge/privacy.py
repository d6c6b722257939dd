"""Personal data never reaches the logs in clear."""


def mask_number(number: str | None) -> str:
    """Keep the last 3 digits only: '+447911123456' -> '*********123'."""
    if not number:
        return "-"
    return "*" * max(0, len(number) - 3) + number[-3:]
