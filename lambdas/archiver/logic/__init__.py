"""What happens to a job run: archiving, and reading the history."""
