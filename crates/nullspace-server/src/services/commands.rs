//! Foreground commands of a running machine: run to their end, output collected.

use nullspace_types::MachineId;

use super::{lifecycle, settle};
use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::node::{Command, CommandOutput};
use crate::state::AppState;
use crate::store::MachineRow;

/// `command` with the machine's defaults under it: its envs below the command's,
/// its working directory unless the command names one.
pub fn with_machine_defaults(row: &MachineRow, mut command: Command) -> Command {
    let mut env = row.envs.clone();
    env.append(&mut command.env);
    command.env = env;
    command.cwd = Some(command.cwd.unwrap_or_else(|| row.cwd.clone()));
    command
}

/// Run `command` in running machine `id` (waking it when it auto-resumes) and
/// collect its output.
pub async fn run(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    command: Command,
    stdin: Option<Vec<u8>>,
) -> ApiResult<CommandOutput> {
    let row = lifecycle::running(state, tenant, id).await?;
    let command = with_machine_defaults(&row, command);
    settle(state, id, state.node.exec(id, command, stdin).await).await
}
