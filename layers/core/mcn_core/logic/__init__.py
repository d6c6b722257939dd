"""Business rules as plain functions over models. No AWS imports here."""
