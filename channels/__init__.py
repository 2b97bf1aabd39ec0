"""One adapter per channel kind behind one interface (see channels.base)."""
