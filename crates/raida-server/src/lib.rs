//! raida-server: the RAIDA QMail server (placeholder until its issue lands).
