use crate::cli::SyncPaymentsArgs;
use crate::commands::Context;
use crate::error::Result;
pub async fn run(_context: &Context, _args: SyncPaymentsArgs) -> Result<i32> { todo!() }
