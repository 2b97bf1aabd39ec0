"""The scheduler process: APScheduler jobs that only enqueue work."""
