"""Campaigns: the campaign file, its users, staging, launch, waves and deadlines."""
