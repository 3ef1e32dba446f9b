"""One module per benchmark: reading its data and its exact arithmetic."""
