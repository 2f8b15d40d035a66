"""Hardware building blocks as plain, validated, immutable data."""
