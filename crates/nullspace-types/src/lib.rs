//! Identifiers, states and error codes shared by every Nullspace crate.
//!
//! Ids are typed newtypes with a fixed prefix (`sb_`, `snap_`, `tpl_`) so that a
//! snapshot id can never be passed where a machine id is expected, and so that a
//! malformed id is rejected at the edge with a clear error instead of deep inside
//! the runtime.

mod egress;
mod id;
mod state;

pub use egress::{Cidr, Egress, EgressError, MAX_CIDRS};
pub use id::{
    IdError, MachineId, PreviewGrantId, SnapshotId, SshAccessId, TemplateBuildId, TemplateId,
    UploadId,
};
pub use state::{MachineState, UnknownState};
