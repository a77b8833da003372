//! Checkpoints: snapshot writing, sessions that seal the WAL, cleanup.
