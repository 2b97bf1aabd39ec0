"""Follow-ups: the messages an answer calls for, and the agents' query inbox."""
