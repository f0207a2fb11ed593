//! Download (74, DECISIONS.md "Download"): one 256 KiB page of a stored stripe.
//!
//! No preamble checks (see [`super`]): the wire key already authenticated the caller. The
//! locker code is read, not enforced; `bytes_per_page` is ignored. Unknown or expired
//! (GUID, file_type): 202. Pages: page `p` is bytes `[p × 256 KiB, (p + 1) × 256 KiB)` of the
//! stripe, and the last page is the first one shorter than 256 KiB — so a stripe of L bytes
//! has pages `0 ..= L / 256 KiB` (page 0 of an empty stripe is an empty last page, and a
//! stripe of exactly k pages ends with an empty page k). A page past that: 198. A stripe file
//! that cannot be read (an I/O error): 194. A stripe file that is torn, foreign or whose data
//! no longer matches its stored CRC-32 (`store::stripes`): 202 as if it were not stored —
//! 202 is "the requested (GUID, file_type) is not stored" (overview page 001 "Status
//! codes"), and a stripe this server cannot vouch for is not one it holds — logged as an
//! error naming the file; the client rebuilds it from parity.
//!
//! Reply payload: the 8-byte page header (file_type, version 0x02, page-size code 0, page
//! number low byte, data length u32 BE) then the page bytes.

use std::ops::Range;

use qmail_wire::body::DownloadBody;
use qmail_wire::codec::Codec;
use qmail_wire::limits::PAGE_SIZE_BYTES;
use qmail_wire::response::DownloadPage;
use qmail_wire::Status;

use super::CommandReply;
use crate::env::Env;
use crate::store::{Guid, StoreError};

/// Handles a download body.
pub(crate) async fn download(env: &Env, body: &DownloadBody) -> CommandReply {
    let guid = Guid(body.guid);
    let now_s = env.clock().now_unix_s();
    let data = match env.stripes().get(guid, body.file_type, now_s).await {
        Ok(Some(data)) => data,
        Ok(None) => return CommandReply::Status(Status::FileNotExist),
        Err(error @ StoreError::CorruptStripe { .. }) => {
            probe::hit(&crate::probes::STRIPE_CORRUPT_READ);
            // Never sent as a good stripe: this server no longer holds it (202).
            tracing::error!(%guid, file_type = body.file_type, %error,
                "corrupted stripe: answered as missing");
            return CommandReply::Status(Status::FileNotExist);
        }
        Err(error) => {
            tracing::warn!(%guid, file_type = body.file_type, %error, "download could not read its stripe");
            return CommandReply::Status(Status::Filesystem);
        }
    };
    let Some(page) = page_range(data.len(), body.page_number) else {
        return CommandReply::Status(Status::InvalidParameter);
    };
    // A stripe of one page (most are) is sent as it was read, not copied.
    let page = if page == (0..data.len()) {
        data
    } else {
        data[page].to_vec()
    };
    let page = DownloadPage::new(body.file_type, body.page_number, page);
    CommandReply::Payload {
        payload: page.to_bytes(),
        deferred: None,
    }
}

/// Where page `page_number` lies in a stripe of `size_bytes`, `None` past the last page.
fn page_range(size_bytes: usize, page_number: u32) -> Option<Range<usize>> {
    let last_page = size_bytes / PAGE_SIZE_BYTES;
    let page_index = usize::try_from(page_number).ok()?;
    if page_index > last_page {
        return None;
    }
    let start = page_index.checked_mul(PAGE_SIZE_BYTES)?;
    let end = start.saturating_add(PAGE_SIZE_BYTES).min(size_bytes);
    assert!(start <= end && end - start <= PAGE_SIZE_BYTES);
    Some(start..end)
}

/// The bytes of page `page_number` of `data`, `None` past the last page.
#[cfg(test)]
fn page_bytes(data: &[u8], page_number: u32) -> Option<&[u8]> {
    data.get(page_range(data.len(), page_number)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_with_the_first_short_page() {
        assert_eq!(
            page_bytes(&[], 0),
            Some(&[][..]),
            "empty stripe: empty page 0"
        );
        assert_eq!(page_bytes(&[], 1), None);
        let small = [7u8; 10];
        assert_eq!(page_bytes(&small, 0), Some(&small[..]));
        assert_eq!(page_bytes(&small, 1), None);
        assert_eq!(page_bytes(&small, u32::MAX), None);
        let exact = vec![1u8; PAGE_SIZE_BYTES];
        assert_eq!(
            page_bytes(&exact, 0).map(<[u8]>::len),
            Some(PAGE_SIZE_BYTES)
        );
        assert_eq!(
            page_bytes(&exact, 1),
            Some(&[][..]),
            "then an empty last page"
        );
        assert_eq!(page_bytes(&exact, 2), None);
        let longer = vec![2u8; PAGE_SIZE_BYTES + 3];
        assert_eq!(page_bytes(&longer, 1).map(<[u8]>::len), Some(3));
    }
}
