"""Notices: what a channel carries, rendered in the core — built-in and campaign templates
per locale, response links, follow-ups, and checking a campaign's own templates at launch."""
