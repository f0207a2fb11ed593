//! qmail-client: the QMail client.
//!
//! Everything a QMail user's machine does lives here: striping a file into data and parity
//! stripes, sending an email (upload the stripes, then tell the recipient's beacon), receiving
//! (ping and peek the beacon), downloading the stripes, reassembling and checking each file,
//! and the `qmail` command that drives all of it.

pub mod limits;
pub mod stripe;
