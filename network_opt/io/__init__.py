"""Reading instances and writing results."""
