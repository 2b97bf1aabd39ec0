"""Privacy: the audit chain, masking, erasure and signed tokens."""
