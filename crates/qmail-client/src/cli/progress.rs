//! The progress bar of large uploads and downloads, fed by the client's observer hooks.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use qmail_wire::header::Command as WireCommand;

use crate::error::RaidaRef;
use crate::observer::{ClientObserver, StripeUploaded};
use crate::stripe::{self, DataStripeCount};

/// A progress bar fed by the client's observer hooks: bytes of stripes stored on upload,
/// download pages answered on download. Hidden unless enabled and the transfer is large.
#[derive(Clone, Debug)]
pub(super) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub(super) fn new(shown: bool, length: u64, template: &str) -> Progress {
        if !shown {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ClientObserver for Progress {
    fn stripe_uploaded(&self, event: &StripeUploaded) {
        self.bar.inc(event.size_bytes as u64);
    }

    fn request_answered(&self, _raida: RaidaRef, command: WireCommand, _status_code: u8) {
        if command == WireCommand::Download {
            self.bar.inc(1);
        }
    }
}

/// Bytes a send uploads: every file's N + 1 stripes.
pub(super) fn upload_size_bytes(file_sizes: &[u64], data_stripe_count: DataStripeCount) -> u64 {
    file_sizes
        .iter()
        .map(|size| {
            stripe::stripe_size_bytes(*size, data_stripe_count)
                .saturating_mul(data_stripe_count.stripe_count() as u64)
        })
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_size_counts_every_stripe() {
        let n = DataStripeCount::new(7).expect("7");
        // 700 bytes: stripes of 100 bytes, 8 of them.
        assert_eq!(upload_size_bytes(&[700], n), 800);
        assert_eq!(upload_size_bytes(&[0, 1], n), 8);
    }
}
