//! `version`: etcdctl's two version lines (scripts parse them), then cairnctl's own.

use super::Ctx;
use crate::error::CtlError;

pub fn run(ctx: &mut Ctx<'_>) -> Result<(), CtlError> {
    let _ = writeln!(ctx.out, "etcdctl version: 3.5.1");
    let _ = writeln!(ctx.out, "API version: 3.5");
    let _ = writeln!(ctx.out, "cairnctl version: {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
