"""Card-data protection: Luhn checks, keyed tokens, masking and the card-number scan."""
