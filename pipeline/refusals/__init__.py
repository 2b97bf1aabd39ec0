"""Refusals understood: why a person refused, asked, classified and stored on the case."""
