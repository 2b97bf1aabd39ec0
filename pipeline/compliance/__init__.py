"""Legal compliance per campaign, measured: the status JSON's ``compliance``."""
