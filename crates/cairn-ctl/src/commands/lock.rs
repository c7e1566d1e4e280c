//! `lock`: not implemented yet (refused with a clear error).

use super::Ctx;
use crate::error::CtlError;

pub fn run(_ctx: &mut Ctx<'_>, _a: &crate::cli::LockArgs) -> Result<(), CtlError> {
    Err(CtlError::error(
        "etcdctl's `lock` command is not implemented by cairnctl yet",
    ))
}
