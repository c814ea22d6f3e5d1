//! The seeded draws the generator and the on-demand content share: ids, person names, and the
//! per-conversation generator that makes content reproducible without storing it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

const FIRST_NAMES: [&str; 16] = [
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noor", "Oscar", "Priya",
];
const LAST_NAMES: [&str; 12] = [
    "Smith", "Okafor", "Garcia", "Nguyen", "Müller", "Rossi", "Kowalski", "Tanaka", "Silva",
    "Dubois", "Haddad", "Byrne",
];

/// A v4-shaped uuid drawn from the generator.
pub(super) fn random_uuid(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// A first and last name.
pub(super) fn person_name(rng: &mut ChaCha8Rng) -> String {
    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
    format!("{first} {last}")
}

/// The generator for one conversation's lazy content (participants' ids, transcripts): depends
/// only on the seed, the conversation's index and a purpose salt.
pub(super) fn content_rng(seed: u64, index: u32, salt: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15);
    rng.set_stream(((index as u64) << 8) | salt);
    rng
}
