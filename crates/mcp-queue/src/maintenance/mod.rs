//! The engine's upkeep, one service per file, each safe on every daemon at once and each on the
//! shared periodic driver where it runs by itself: the rescuer (`rescuer.rs`: jobs whose lease
//! ran out), the pruner of finished jobs (`pruner.rs`: run by the `prune` job), the vacuumer of
//! the live partition (`vacuumer.rs`) and the depth and pool sampler (`depth.rs`); the cron
//! scheduler is `crate::scheduler`. Each statement touches a bounded number of rows and holds
//! its locks only for that statement.

mod depth;
mod pruner;
mod rescuer;
mod vacuumer;

pub(crate) use depth::sample_loop;
pub use depth::{DepthRow, KindSlots, DEPTH_SQL};
pub use pruner::{PruneAges, PruneReport, PRUNE_SQL};
pub(crate) use rescuer::rescue_loop;
pub use rescuer::{Rescued, RESCUE_SQL};
pub(crate) use vacuumer::vacuum_loop;
