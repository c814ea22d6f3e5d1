//! Inventory, the first step of each chunk: the contacts the recording side holds for the chunk,
//! widened by the tolerance, streamed page by page into the matcher's compact index before the
//! chunk's conversations are collected.

use futures::TryStreamExt;

use crate::api::MediaType;
use crate::pipeline::matcher::{ContactIndex, ContactRecord};
use crate::verint::RecordingSideError;
use crate::verint::das::{ContactQuery, DasClient};

/// Contacts that could not be read at all (wrong shape), counted for the report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InventoryStats {
    /// Pages read.
    pub pages: u64,
    /// Entries that were not contacts.
    pub unreadable: u64,
}

/// Fills `index` with every contact DAS returns for the index's widened range.
pub async fn load_contacts(
    das: &DasClient,
    index: &mut ContactIndex,
    media_types: &[MediaType],
    on_page: impl FnMut(u64),
) -> Result<InventoryStats, RecordingSideError> {
    load_contacts_where(das, index, media_types, |_| true, on_page).await
}

/// The same, indexing only the contacts `keep` accepts (a re-drive indexes only the contacts of
/// the conversations it names, however many the window holds).
pub async fn load_contacts_where(
    das: &DasClient,
    index: &mut ContactIndex,
    media_types: &[MediaType],
    keep: impl Fn(&ContactRecord<'_>) -> bool,
    mut on_page: impl FnMut(u64),
) -> Result<InventoryStats, RecordingSideError> {
    let query = ContactQuery::new(index.query_range(), media_types.to_vec());
    let mut pages = das.contact_pages(query);
    let mut stats = InventoryStats::default();
    while let Some(page) = pages.try_next().await? {
        stats.pages += 1;
        stats.unreadable += page.invalid.len() as u64;
        for contact in &page.contacts {
            let record = contact.record();
            if keep(&record) {
                index.insert(record);
            }
        }
        on_page(index.len() as u64);
    }
    Ok(stats)
}
