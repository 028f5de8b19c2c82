"""Where archived data goes: the archive bucket and the history table."""
