"""Data access: the only place that knows DynamoDB. Domain logic talks to these stores through Protocols."""
