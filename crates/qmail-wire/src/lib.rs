//! qmail-wire
