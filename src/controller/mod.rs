//! The operator: leader-elected through a Lease, it reconciles every DigitalRecovery into one
//! Indexed Job of workers and folds the Job's state and the shards' status entries into the
//! recovery's phase, totals, kstatus conditions and Events; and every DigitalRecoverySchedule
//! into runs.
//!
//! - [`reconcile`]: the recovery state machine (observe -> validate -> admit -> fold -> share
//!   -> decide -> apply children -> write status -> announce);
//! - [`fleet`]: what one recovery cannot decide alone, over every recovery: [`admission`]
//!   (pure: the queue under the chart's caps) and [`org_budget`] (pure: an org's Genesys
//!   request budget divided among its running shards);
//! - [`fold`] (pure): observations to status; [`resources`] (pure): the Job and worker identity;
//!   [`worker_exits`]: how failed worker pods ended (OOMKilled, exit codes);
//! - [`announce`]: Events and metrics on transitions and errors; [`totals_pace`]: how often a
//!   running recovery's totals alone are rewritten;
//! - [`schedule`]: the schedule controller;
//! - [`runtime`]: the process (HTTP endpoints, Lease, controllers, graceful shutdown);
//!   [`http`] and [`metrics`] serve and hold the metrics, [`gauges`] fills the per-object ones
//!   from the controllers' caches at scrape time.

pub mod admission;
pub mod announce;
pub mod fleet;
pub mod fold;
pub mod gauges;
pub mod http;
pub mod metrics;
pub mod org_budget;
pub mod org_throttle;
pub mod reconcile;
pub mod resources;
pub mod runtime;
pub mod schedule;
pub mod totals_pace;
pub mod worker_exits;

pub use reconcile::{Context, Error};
pub use runtime::{RunError, Settings, run};
