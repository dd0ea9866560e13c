"""What every section's notebook shares: the session, its displays and widgets, the banner,
the action guard."""
