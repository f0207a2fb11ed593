//! raida-sim: the deterministic simulator (placeholder until its issue lands).
