"""Placeholder: this strategy is being written."""
