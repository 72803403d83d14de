"""The order engine: one single-writer task owns live state and group-commits the journal."""
