//! qmail-client: the QMail client (placeholder until its issue lands).
