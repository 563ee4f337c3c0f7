"""cardcore: the bank application of a card payment terminal."""

__version__ = "0.1.0"
