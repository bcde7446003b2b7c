use crate::cli::SyncInvoicesArgs;
use crate::commands::Context;
use crate::error::Result;
pub async fn run(_context: &Context, _args: SyncInvoicesArgs) -> Result<i32> { todo!() }
