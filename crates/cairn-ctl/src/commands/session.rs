//! The lock and election recipes of etcd's client (`concurrency`), built on
//! KV, Lease and Watch: a session is a lease kept alive in the background;
//! a contender puts `<prefix>/<lease hex>` if absent and waits until every
//! key under the prefix created before its own is deleted.

use cairn_proto::etcdserverpb::{
    compare, range_request, request_op, response_op, Compare, DeleteRangeRequest, PutRequest,
    RangeRequest, RangeResponse, RequestOp, ResponseHeader, TxnRequest, TxnResponse,
    WatchCreateRequest,
};
use cairn_proto::mvccpb::{event, KeyValue};
use tokio::sync::oneshot;

use super::keepalive;
use super::prefix_end;
use super::watcher::{Update, Watches};
use crate::client::{Client, RpcError};

/// The Go client's own errors of these recipes.
pub const SESSION_EXPIRED: &str = "mutex: session is expired";
pub const NOT_LEADER: &str = "election: not leader";

fn err(message: &str) -> RpcError {
    RpcError {
        message: message.to_string(),
    }
}

/// A lease kept alive until the process ends (`concurrency.Session`).
pub struct Session {
    pub lease: i64,
    done: oneshot::Receiver<()>,
}

impl Session {
    /// Grants a lease of `ttl` seconds (60 when not positive) and keeps it alive.
    pub async fn new(client: &mut Client, ttl: i64) -> Result<Session, RpcError> {
        let ttl = if ttl > 0 { ttl } else { 60 };
        let granted = client.lease_grant(None, ttl).await?;
        let first_timeout =
            client.settings().dial_timeout.to_std() + std::time::Duration::from_secs(1);
        let channel = client.channel().await?;
        let mut answers = keepalive::spawn(channel, granted.id, first_timeout);
        let (tx, done) = oneshot::channel();
        tokio::spawn(async move {
            while answers.recv().await.is_some() {}
            let _ = tx.send(());
        });
        Ok(Session {
            lease: granted.id,
            done,
        })
    }

    /// Resolves when the keep-alive has ended (the lease is gone).
    pub async fn expired(&mut self) {
        let _ = (&mut self.done).await;
    }
}

fn put_op(key: &[u8], value: &[u8], lease: i64) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        })),
    }
}

fn get_op(req: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(req)),
    }
}

fn created_at(key: &[u8], revision: i64) -> Compare {
    Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(compare::TargetUnion::CreateRevision(revision)),
        ..Default::default()
    }
}

/// The key under `prefix` created first (or, with `last`, the last one
/// created at or before `max_create_revision`).
fn by_create(prefix: &[u8], last: bool, max_create_revision: i64) -> RangeRequest {
    RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: if last {
            range_request::SortOrder::Descend
        } else {
            range_request::SortOrder::Ascend
        } as i32,
        sort_target: range_request::SortTarget::Create as i32,
        max_create_revision,
        ..Default::default()
    }
}

fn range_of(resp: &TxnResponse, i: usize) -> Option<&RangeResponse> {
    match resp.responses.get(i)?.response.as_ref()? {
        response_op::Response::ResponseRange(r) => Some(r),
        _ => None,
    }
}

/// A plain read of one key.
pub async fn get(client: &mut Client, key: &[u8]) -> Result<RangeResponse, RpcError> {
    client
        .range_unbounded(RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })
        .await
}

/// Waits until `key` is deleted, watching from `revision`.
async fn wait_delete(client: &Client, key: &[u8], revision: i64) -> Result<(), RpcError> {
    let mut watches = Watches::new(Client::new(client.settings().clone()));
    watches
        .add(WatchCreateRequest {
            key: key.to_vec(),
            start_revision: revision,
            ..Default::default()
        })
        .await;
    while let Some(update) = watches.next().await {
        match update {
            Update::Response(_, resp, cancel) => {
                if resp
                    .events
                    .iter()
                    .any(|e| e.r#type == event::EventType::Delete as i32)
                {
                    return Ok(());
                }
                if let Some(message) = cancel {
                    return Err(err(&message));
                }
            }
            Update::Closed(_) => break,
        }
    }
    Err(err("lost watcher waiting for delete"))
}

/// Waits until no key under `prefix` created at or before `max_create_revision` is left.
async fn wait_deletes(
    client: &mut Client,
    prefix: &[u8],
    max_create_revision: i64,
) -> Result<ResponseHeader, RpcError> {
    loop {
        let resp = client
            .range_unbounded(by_create(prefix, true, max_create_revision))
            .await?;
        let header = resp.header.unwrap_or_default();
        let Some(last) = resp.kvs.first() else {
            return Ok(header);
        };
        wait_delete(client, &last.key, header.revision).await?;
    }
}

/// A held (or wanted) lock: `concurrency.Mutex`.
pub struct Mutex {
    pub key: Vec<u8>,
    pub header: ResponseHeader,
}

/// Acquires the lock `name` for `session`, waiting for earlier holders.
/// On failure while waiting the key is given up again.
pub async fn lock(client: &mut Client, session: &Session, name: &[u8]) -> Result<Mutex, RpcError> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    let mut key = prefix.clone();
    key.extend_from_slice(format!("{:x}", session.lease).as_bytes());
    let owner = get_op(by_create(&prefix, false, 0));
    let resp = client
        .txn(TxnRequest {
            compare: vec![created_at(&key, 0)],
            success: vec![put_op(&key, b"", session.lease), owner.clone()],
            failure: vec![
                get_op(RangeRequest {
                    key: key.clone(),
                    ..Default::default()
                }),
                owner,
            ],
        })
        .await?;
    let header = resp.header.unwrap_or_default();
    let mut my_rev = header.revision;
    if !resp.succeeded {
        if let Some(kv) = range_of(&resp, 0).and_then(|r| r.kvs.first()) {
            my_rev = kv.create_revision;
        }
    }
    let holder = range_of(&resp, 1).and_then(|r| r.kvs.first());
    if holder.is_none_or(|kv| kv.create_revision == my_rev) {
        return Ok(Mutex { key, header });
    }
    if let Err(e) = wait_deletes(client, &prefix, my_rev - 1).await {
        let _ = unlock(client, &key).await;
        return Err(e);
    }
    let got = match get(client, &key).await {
        Ok(r) => r,
        Err(e) => {
            let _ = unlock(client, &key).await;
            return Err(e);
        }
    };
    if got.kvs.is_empty() {
        return Err(err(SESSION_EXPIRED));
    }
    Ok(Mutex {
        key,
        header: got.header.unwrap_or_default(),
    })
}

/// Releases a lock by deleting its key.
pub async fn unlock(client: &mut Client, key: &[u8]) -> Result<(), RpcError> {
    client
        .delete_unbounded(DeleteRangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

/// A campaign's standing: `concurrency.Election` once elected.
pub struct Leadership {
    pub key: Vec<u8>,
    pub revision: i64,
}

/// Campaigns in election `name` with `value` and returns once elected.
pub async fn campaign(
    client: &mut Client,
    session: &Session,
    name: &[u8],
    value: &[u8],
) -> Result<Leadership, RpcError> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    let mut key = prefix.clone();
    key.extend_from_slice(format!("{:x}", session.lease).as_bytes());
    let resp = client
        .txn(TxnRequest {
            compare: vec![created_at(&key, 0)],
            success: vec![put_op(&key, value, session.lease)],
            failure: vec![get_op(RangeRequest {
                key: key.clone(),
                ..Default::default()
            })],
        })
        .await?;
    let mut me = Leadership {
        key,
        revision: resp.header.unwrap_or_default().revision,
    };
    if !resp.succeeded {
        if let Some(kv) = range_of(&resp, 0).and_then(|r| r.kvs.first()) {
            me.revision = kv.create_revision;
            if kv.value != value {
                let proclaimed = client
                    .txn(TxnRequest {
                        compare: vec![created_at(&me.key, me.revision)],
                        success: vec![put_op(&me.key, value, session.lease)],
                        failure: vec![],
                    })
                    .await;
                match proclaimed {
                    Ok(r) if r.succeeded => {}
                    Ok(_) => return Err(err(NOT_LEADER)),
                    Err(e) => {
                        let _ = resign(client, &me).await;
                        return Err(e);
                    }
                }
            }
        }
    }
    wait_deletes(client, &prefix, me.revision - 1).await?;
    Ok(me)
}

/// Gives up leadership (deletes the key if it is still ours).
pub async fn resign(client: &mut Client, me: &Leadership) -> Result<(), RpcError> {
    client
        .txn(TxnRequest {
            compare: vec![created_at(&me.key, me.revision)],
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestDeleteRange(
                    DeleteRangeRequest {
                        key: me.key.clone(),
                        ..Default::default()
                    },
                )),
            }],
            failure: vec![],
        })
        .await
        .map(|_| ())
}

/// Follows the leader of election `name` (`Election.Observe`), handing each
/// leader (and each new value of it) to `report`; returns when the watch is
/// lost.
pub async fn observe(
    client: &mut Client,
    name: &[u8],
    report: &mut dyn FnMut(&RangeResponse),
) -> Result<(), RpcError> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    loop {
        let mut resp = client.range_unbounded(by_create(&prefix, false, 0)).await?;
        let (header, kv): (ResponseHeader, KeyValue) = match resp.kvs.first() {
            Some(kv) => (resp.header.unwrap_or_default(), kv.clone()),
            None => {
                let mut watches = Watches::new(Client::new(client.settings().clone()));
                watches
                    .add(WatchCreateRequest {
                        key: prefix.clone(),
                        range_end: prefix_end(&prefix),
                        start_revision: resp.header.unwrap_or_default().revision,
                        ..Default::default()
                    })
                    .await;
                let mut found = None;
                while found.is_none() {
                    match watches.next().await {
                        Some(Update::Response(_, w, None)) => {
                            let put = w.events.iter().find_map(|e| {
                                (e.r#type == event::EventType::Put as i32)
                                    .then(|| e.kv.clone())
                                    .flatten()
                            });
                            if let Some(kv) = put {
                                let mut header = w.header;
                                header.revision = kv.mod_revision;
                                found = Some((header, kv));
                            }
                        }
                        _ => return Ok(()),
                    }
                }
                match found {
                    Some(f) => f,
                    None => return Ok(()),
                }
            }
        };
        report(&RangeResponse {
            header: Some(header),
            kvs: vec![kv.clone()],
            ..Default::default()
        });
        let mut watches = Watches::new(Client::new(client.settings().clone()));
        watches
            .add(WatchCreateRequest {
                key: kv.key.clone(),
                start_revision: header.revision + 1,
                ..Default::default()
            })
            .await;
        'leader: loop {
            match watches.next().await {
                Some(Update::Response(_, w, cancel)) => {
                    for e in &w.events {
                        if e.r#type == event::EventType::Delete as i32 {
                            break 'leader;
                        }
                        // The Go client reuses its last read for these.
                        resp.header = Some(w.header);
                        resp.kvs = vec![e.kv.clone().unwrap_or_default()];
                        report(&resp);
                    }
                    if cancel.is_some() {
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
        }
    }
}
