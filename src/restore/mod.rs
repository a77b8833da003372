//! Restore at start-up: snapshots, then WAL replay, into Go's buffer chains.
