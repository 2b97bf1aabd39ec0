"""Cases: the state machine, the ladder's policy, notices, delivery, quiet hours, caps,
the sweep and campaign control."""
