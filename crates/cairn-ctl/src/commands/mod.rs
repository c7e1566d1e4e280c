//! One module per etcdctl command. Each follows the order of checks of its
//! etcdctl counterpart (argument errors, then client configuration, then the
//! RPC, then output), because that order decides which error a user sees.

pub mod bench;
pub mod compaction;
pub mod del;
pub mod elect;
pub mod endpoint;
pub mod exec;
pub mod get;
pub mod keepalive;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod make_mirror;
pub mod member;
pub mod put;
pub mod recover;
pub mod session;
pub mod settings;
pub mod snapshot;
pub mod spinner;
pub mod txn;
pub mod version;
pub mod watch;
pub mod watcher;

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStringExt;

use crate::error::CtlError;
use crate::global::Globals;
use crate::printer::Sink;

/// What a running command has at hand.
pub struct Ctx<'a> {
    pub globals: Globals,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub stdin: &'a mut dyn BufRead,
    /// The command line as given (watch looks for `--` in it, as etcdctl does).
    pub raw_args: Vec<OsString>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        globals: Globals,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
        stdin: &'a mut dyn BufRead,
    ) -> Self {
        Ctx {
            globals,
            out,
            err,
            stdin,
            raw_args: Vec::new(),
            runtime: None,
        }
    }

    /// Runs async client code to completion.
    pub fn block_on<F: std::future::Future>(&mut self, future: F) -> Result<F::Output, CtlError> {
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CtlError::error(format!("cannot start the async runtime: {e}")))?;
            self.runtime = Some(runtime);
        }
        match &self.runtime {
            Some(rt) => Ok(rt.block_on(future)),
            None => Err(CtlError::error("no async runtime")),
        }
    }

    pub fn sink(&mut self) -> Sink<'_> {
        Sink {
            out: &mut *self.out,
            err: &mut *self.err,
        }
    }
}

/// Positional arguments as the byte strings Go sees.
pub fn arg_bytes(args: &[OsString]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.clone().into_vec()).collect()
}

/// The end of the range of keys with prefix `key` (clientv3's `GetPrefixRangeEnd`).
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The range `--prefix` and `--from-key` select (clientv3's `WithPrefix` and
/// `WithFromKey`): an empty key with either flag means every key.
pub fn apply_range_flags(key: &mut Vec<u8>, range_end: &mut Vec<u8>, prefix: bool, from_key: bool) {
    if prefix {
        if key.is_empty() {
            *key = vec![0];
            *range_end = vec![0];
        } else {
            *range_end = prefix_end(key);
        }
    }
    if from_key {
        if key.is_empty() {
            *key = vec![0];
        }
        *range_end = vec![0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"foo"), b"fop");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\x00");
    }
}
