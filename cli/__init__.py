"""The `recall` command: the admin script and the long-running processes."""
