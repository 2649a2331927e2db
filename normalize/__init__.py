"""Pure functions from a channel's raw record to the common ticket schema."""
