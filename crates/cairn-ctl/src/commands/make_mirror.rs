//! `make-mirror [options] <destination>`: copies the keys under `--prefix`
//! (every key by default) from the cluster of `--endpoints` to the cluster
//! at <destination>, then keeps copying every change, as etcdctl's
//! make-mirror does: the keys as of one revision, read in pages of 1000 and
//! written one put each; then a watch from the next revision, each
//! revision's events written in one txn. Keys are renamed by replacing the
//! first occurrence of the prefix with `--dest-prefix` (the prefix itself by
//! default, nothing with `--no-dest-prefix`). The number of keys copied is
//! printed every 30 seconds. It runs until stopped, or ends with an error
//! when the destination refuses a write or the watch is compacted. Leases
//! are not mirrored (keys are written without them), as in etcdctl.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_proto::etcdserverpb::request_op::Request as Op;
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, WatchCreateRequest,
};
use cairn_proto::mvccpb::event::EventType;

use super::watcher::{Update, Watches};
use super::{arg_bytes, prefix_end, Ctx};
use crate::cli::MakeMirrorArgs;
use crate::client::{Client, RpcError};
use crate::error::CtlError;
use crate::zaplog::LogStyle;

/// How many keys one page of the first copy reads (clientv3's mirror).
const PAGE: i64 = 1000;
/// How often the count of copied keys is printed.
const REPORT_EVERY: Duration = Duration::from_secs(30);
const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

/// The key on the destination: the first occurrence of `from` replaced by
/// `to` (Go's `strings.Replace(key, from, to, 1)`; an empty `from` puts `to`
/// in front).
pub fn rename(key: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = if from.is_empty() {
        Some(0)
    } else {
        key.windows(from.len()).position(|w| w == from)
    };
    match at {
        Some(at) => [&key[..at], to, &key[at + from.len()..]].concat(),
        None => key.to_vec(),
    }
}

pub fn run(ctx: &mut Ctx<'_>, a: &MakeMirrorArgs) -> Result<(), CtlError> {
    if a.args.len() != 1 {
        return Err(CtlError::bad_args(
            "make-mirror takes one destination argument",
        ));
    }
    let destination = String::from_utf8_lossy(&arg_bytes(&a.args)[0]).into_owned();
    // The destination's connection: the global dial and keep-alive settings
    // with the --dest-* TLS flags (etcdctl's secureCfg for it never skips
    // verification).
    let mut dest_globals = ctx.globals.clone();
    dest_globals.args.cert = a.dest_cert.clone();
    dest_globals.args.key = a.dest_key.clone();
    dest_globals.args.cacert = a.dest_cacert.clone();
    dest_globals.args.insecure_transport = a.dest_insecure_transport;
    dest_globals.args.insecure_skip_tls_verify = false;
    let dest_tls = dest_globals.tls()?;
    if !a.dest_user.is_empty() {
        return Err(CtlError::error(
            "authentication (--dest-user/--dest-password) is not supported by cairnctl yet",
        ));
    }
    let dest_settings = dest_globals.connection(vec![destination], dest_tls, LogStyle::EtcdClient);
    let (settings, _printer) = ctx.globals.client_config(ctx.err)?;
    if a.no_dest_prefix && !a.dest_prefix.is_empty() {
        return Err(CtlError::bad_args(
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
        ));
    }
    let from = a.prefix.as_bytes().to_vec();
    let to = if a.no_dest_prefix || !a.dest_prefix.is_empty() {
        a.dest_prefix.as_bytes().to_vec()
    } else {
        from.clone()
    };
    let mut mirror = Mirror {
        source: Client::new(settings),
        dest: Client::new(dest_settings),
        from,
        to,
        copied: Arc::default(),
    };
    let copied = mirror.copied.clone();
    let out = &mut *ctx.out;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::error(format!("cannot start the async runtime: {e}")))?;
    let ended = runtime.block_on(async {
        let mirroring = mirror.run();
        tokio::pin!(mirroring);
        let mut report =
            tokio::time::interval_at(tokio::time::Instant::now() + REPORT_EVERY, REPORT_EVERY);
        loop {
            tokio::select! {
                ended = &mut mirroring => break ended,
                _ = report.tick() => {
                    let _ = writeln!(out, "{}", copied.load(Ordering::Relaxed));
                    let _ = out.flush();
                }
            }
        }
    });
    // etcdctl exits through ExitWithError even when the watch just ends.
    Err(CtlError::error(match ended {
        Ok(()) => "<nil>".to_string(),
        Err(e) => e.message,
    }))
}

struct Mirror {
    source: Client,
    dest: Client,
    from: Vec<u8>,
    to: Vec<u8>,
    /// Keys copied so far (read by the 30-second report).
    copied: Arc<AtomicU64>,
}

impl Mirror {
    /// The keys mirrored: those under the prefix, or every key (clientv3's
    /// `WithPrefix` and `WithFromKey` of an empty key).
    fn mirrored_range(&self) -> (Vec<u8>, Vec<u8>) {
        if self.from.is_empty() {
            (vec![0], vec![0])
        } else {
            (self.from.clone(), prefix_end(&self.from))
        }
    }

    fn count(&self) {
        self.copied.fetch_add(1, Ordering::Relaxed);
    }

    /// The first copy, then the changes; returns only on an error or when
    /// the watch ends.
    async fn run(&mut self) -> Result<(), RpcError> {
        // The revision to copy at: the header of a read of any key ("foo",
        // as clientv3's mirror reads).
        let revision = self
            .source
            .range_unbounded(RangeRequest {
                key: b"foo".to_vec(),
                ..Default::default()
            })
            .await?
            .header
            .map(|h| h.revision)
            .unwrap_or_default();
        let (mut key, range_end) = self.mirrored_range();
        loop {
            let page = self
                .source
                .range_unbounded(RangeRequest {
                    key: key.clone(),
                    range_end: range_end.clone(),
                    limit: PAGE,
                    revision,
                    ..Default::default()
                })
                .await?;
            for kv in &page.kvs {
                let put = PutRequest {
                    key: rename(&kv.key, &self.from, &self.to),
                    value: kv.value.clone(),
                    ..Default::default()
                };
                self.dest.put_unbounded(put).await?;
                self.count();
            }
            match page.kvs.last() {
                Some(last) if page.more => key = [last.key.as_slice(), &[0]].concat(),
                _ => break,
            }
        }
        self.follow(revision + 1).await
    }

    /// Copies every change from `start` on, a txn per source revision.
    async fn follow(&mut self, start: i64) -> Result<(), RpcError> {
        let (key, range_end) = self.mirrored_range();
        let mut watches =
            Watches::new(Client::new(self.source.settings().clone())).without_leader_requirement();
        watches
            .add(WatchCreateRequest {
                key,
                range_end,
                start_revision: start,
                ..Default::default()
            })
            .await;
        while let Some(update) = watches.next().await {
            let Update::Response(_, resp, _) = update else {
                continue;
            };
            if resp.compact_revision != 0 {
                return Err(RpcError {
                    message: COMPACTED.to_string(),
                });
            }
            let mut ops = Vec::new();
            let mut last_revision = 0;
            for event in &resp.events {
                let Some(kv) = &event.kv else { continue };
                if last_revision != 0 && kv.mod_revision > last_revision {
                    self.write(std::mem::take(&mut ops)).await?;
                }
                last_revision = kv.mod_revision;
                let key = rename(&kv.key, &self.from, &self.to);
                ops.push(RequestOp {
                    request: Some(if event.r#type == EventType::Delete as i32 {
                        Op::RequestDeleteRange(DeleteRangeRequest {
                            key,
                            ..Default::default()
                        })
                    } else {
                        Op::RequestPut(PutRequest {
                            key,
                            value: kv.value.clone(),
                            ..Default::default()
                        })
                    }),
                });
                self.count();
            }
            if !ops.is_empty() {
                self.write(ops).await?;
            }
        }
        Ok(())
    }

    /// One source revision's changes in one txn on the destination.
    async fn write(&mut self, ops: Vec<RequestOp>) -> Result<(), RpcError> {
        self.dest
            .txn(TxnRequest {
                success: ops,
                ..Default::default()
            })
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::rename;

    #[test]
    fn renames_like_gos_strings_replace_once() {
        assert_eq!(rename(b"a/k", b"a/", b"b/"), b"b/k");
        assert_eq!(rename(b"a/k", b"a/", b""), b"k");
        assert_eq!(rename(b"k", b"", b"m/"), b"m/k");
        assert_eq!(rename(b"x/a/a/", b"a/", b"b/"), b"x/b/a/");
        assert_eq!(rename(b"k", b"a/", b"b/"), b"k");
    }
}
