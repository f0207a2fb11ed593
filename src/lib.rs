//! The root package `raida-testbed`: it exists to hold the end-to-end tests in `tests/`.
