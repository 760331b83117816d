"""Security concerns, each in its own module: the network guard and URL signing."""
