//! What a dataset is made from: the seed, the size, the window and the share of each case.

use super::StartProfile;
use crate::api::Window;

/// What to generate.
#[derive(Clone, Debug)]
pub struct DatasetConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of conversations (text and voice) whose start lies in the window.
    pub conversations: usize,
    /// Window the conversations start in.
    pub window: Window,
    /// Recording-side tenant.
    pub tenant: String,
    /// Share of completed text conversations the recording side lacks entirely.
    pub missing_rate: f64,
    /// Share of completed text conversations the recording side holds only partly (drawn among
    /// the multi-session ones, which are `transfer_rate` of all, so it saturates there).
    pub partial_rate: f64,
    /// Share of conversations still open (no end).
    pub open_rate: f64,
    /// Share of voice conversations (the pipeline must ignore them).
    pub voice_rate: f64,
    /// Share of text conversations with no recording at all (the recording side holds none of
    /// them either).
    pub unrecorded_rate: f64,
    /// Share of recorded text conversations whose recordings are archived.
    pub archived_rate: f64,
    /// Share of recorded text conversations whose recordings are deleted.
    pub deleted_rate: f64,
    /// Share of text conversations transferred to a second agent (two sessions, two recordings).
    pub transfer_rate: f64,
    /// Share of conversations starting exactly on a whole UTC minute, so slice and shard
    /// boundaries on whole minutes or hours meet conversations that start right on them.
    pub aligned_start_rate: f64,
    /// How conversation starts spread over the window (uniform, or business hours).
    pub profile: StartProfile,
}

impl DatasetConfig {
    /// Defaults for everything but seed, size and window.
    pub fn new(seed: u64, conversations: usize, window: Window) -> Self {
        DatasetConfig {
            seed,
            conversations,
            window,
            tenant: "demo".to_string(),
            missing_rate: 0.05,
            partial_rate: 0.02,
            open_rate: 0.02,
            voice_rate: 0.05,
            unrecorded_rate: 0.03,
            archived_rate: 0.01,
            deleted_rate: 0.005,
            transfer_rate: 0.15,
            aligned_start_rate: 0.02,
            profile: StartProfile::Uniform,
        }
    }
}
