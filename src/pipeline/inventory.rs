//! Inventory, the first step of each chunk: the contacts the recording side holds for the chunk,
//! widened by the tolerance, streamed page by page into the matcher's compact index before the
//! chunk's conversations are collected.

use futures::TryStreamExt;

use crate::api::MediaType;
use crate::pipeline::matcher::{ContactIndex, ContactRecord};
use crate::verint::RecordingSideError;
use crate::verint::das::{Contact, ContactQuery, DasClient};

/// Contacts that could not be read at all (wrong shape), counted for the report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InventoryStats {
    /// Pages read.
    pub pages: u64,
    /// Entries that were not contacts.
    pub unreadable: u64,
}

/// Fills `index` with every contact DAS returns for the index's widened range, but for social
/// contacts of a channel `message_types` leaves out (DAS filters by media type only; such a
/// contact is neither held for a requested conversation nor an extra of this recovery).
pub async fn load_contacts(
    das: &DasClient,
    index: &mut ContactIndex,
    media_types: &[MediaType],
    message_types: &[String],
    on_page: impl FnMut(u64),
) -> Result<InventoryStats, RecordingSideError> {
    load_contacts_where(das, index, media_types, message_types, |_| true, on_page).await
}

/// The same, indexing only the contacts `keep` accepts (a re-drive indexes only the contacts of
/// the conversations it names, however many the window holds).
pub async fn load_contacts_where(
    das: &DasClient,
    index: &mut ContactIndex,
    media_types: &[MediaType],
    message_types: &[String],
    keep: impl Fn(&ContactRecord<'_>) -> bool,
    mut on_page: impl FnMut(u64),
) -> Result<InventoryStats, RecordingSideError> {
    let query = ContactQuery::new(index.query_range(), media_types.to_vec());
    let mut pages = das.contact_pages(query);
    let mut stats = InventoryStats::default();
    while let Some(page) = pages.try_next().await? {
        stats.pages += 1;
        stats.unreadable += page.invalid.len() as u64;
        for contact in page.contacts.iter().filter(|c| in_scope(c, message_types)) {
            let record = contact.record();
            if keep(&record) {
                index.insert(record);
            }
        }
        on_page(index.len() as u64);
    }
    Ok(stats)
}

/// Whether a contact belongs to the recovery's channels: every contact when `message_types` is
/// empty; else all but social contacts whose (known) message type is not listed. A social
/// contact without a message type stays: it may still be held for a requested conversation.
fn in_scope(contact: &Contact, message_types: &[String]) -> bool {
    if message_types.is_empty() || contact.media_type.as_deref() != Some(MediaType::Social.as_str())
    {
        return true;
    }
    contact.message_type.as_deref().is_none_or(|m| {
        message_types
            .iter()
            .any(|wanted| wanted.eq_ignore_ascii_case(m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(media_type: &str, message_type: Option<&str>) -> Contact {
        Contact {
            media_type: Some(media_type.into()),
            message_type: message_type.map(str::to_string),
            ..Contact::default()
        }
    }

    #[test]
    fn message_types_leave_out_only_social_contacts_of_other_channels() {
        let sms = vec!["sms".to_string()];
        assert!(in_scope(&contact("social", Some("whatsapp")), &[]));
        assert!(in_scope(&contact("social", Some("sms")), &sms));
        assert!(in_scope(&contact("social", Some("SMS")), &sms));
        assert!(!in_scope(&contact("social", Some("whatsapp")), &sms));
        assert!(in_scope(&contact("social", None), &sms));
        assert!(in_scope(&contact("chat", Some("whatsapp")), &sms));
    }
}
