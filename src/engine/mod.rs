//! The WAL engine: sharded background writer threads fed by bounded queues.
