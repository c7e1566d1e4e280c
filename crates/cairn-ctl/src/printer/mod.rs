//! Output formats (`-w simple|json|fields|table|protobuf`): one module per
//! format, and here the dispatch that decides, like etcdctl's printer
//! interface, which format supports which response. An unsupported pairing
//! fails with `<format> not supported as output format` (exit 4).

mod fields;
mod json;
mod protobuf;
mod simple;
mod table;

use std::io::Write;

use cairn_proto::etcdserverpb::{
    DeleteRangeResponse, HashKvResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, Member, MemberAddResponse,
    MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse,
    PutResponse, RangeResponse, ResponseHeader, StatusResponse, TxnResponse,
};
use cairn_proto::mvccpb::Event;

use crate::error::CtlError;

pub use simple::event_type_name;
pub use table::render_table;

/// The `--write-out` formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Simple,
    Json,
    Fields,
    Table,
    Protobuf,
}

impl Format {
    /// The format named by `--write-out`, if etcdctl knows it.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "simple" => Some(Format::Simple),
            "json" => Some(Format::Json),
            "fields" => Some(Format::Fields),
            "table" => Some(Format::Table),
            "protobuf" => Some(Format::Protobuf),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Simple => "simple",
            Format::Json => "json",
            Format::Fields => "fields",
            Format::Table => "table",
            Format::Protobuf => "protobuf",
        }
    }
}

/// One endpoint's result of `endpoint health`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpHealth {
    pub ep: String,
    pub health: bool,
    pub took: String,
    pub error: String,
}

/// One endpoint's result of `endpoint status`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpStatus {
    pub ep: String,
    pub resp: StatusResponse,
}

/// One endpoint's result of `endpoint hashkv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpHashKv {
    pub ep: String,
    pub resp: HashKvResponse,
}

/// The outcome of `member add|remove|update|promote`.
pub enum MemberChange<'a> {
    Added(&'a MemberAddResponse),
    Removed(u64, &'a MemberRemoveResponse),
    Updated(u64, &'a MemberUpdateResponse),
    Promoted(u64, &'a MemberPromoteResponse),
}

impl MemberChange<'_> {
    fn header(&self) -> ResponseHeader {
        let h = match self {
            MemberChange::Added(r) => r.header,
            MemberChange::Removed(_, r) => r.header,
            MemberChange::Updated(_, r) => r.header,
            MemberChange::Promoted(_, r) => r.header,
        };
        h.unwrap_or_default()
    }

    fn members(&self) -> &[Member] {
        match self {
            MemberChange::Added(r) => &r.members,
            MemberChange::Removed(_, r) => &r.members,
            MemberChange::Updated(_, r) => &r.members,
            MemberChange::Promoted(_, r) => &r.members,
        }
    }
}

/// What the Go client hands a watcher for one watch response (clientv3's
/// `WatchResponse`): the header, the events and the cancellation state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Watched {
    pub header: ResponseHeader,
    pub events: Vec<Event>,
    pub compact_revision: i64,
    pub canceled: bool,
    pub created: bool,
}

impl Watched {
    /// clientv3's `IsProgressNotify`.
    pub fn is_progress_notify(&self) -> bool {
        self.events.is_empty()
            && !self.canceled
            && !self.created
            && self.compact_revision == 0
            && self.header.revision != 0
    }
}

/// Where printed output goes.
pub struct Sink<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// Prints responses in the chosen format.
#[derive(Clone, Debug)]
pub struct Printer {
    pub format: Format,
    /// `--hex`: keys and values as `\x..` escapes (simple format, and member
    /// IDs in JSON).
    pub hex: bool,
    /// `get --print-value-only`.
    pub value_only: bool,
}

type PrintResult = Result<(), CtlError>;

impl Printer {
    pub fn new(format: Format, hex: bool) -> Self {
        Printer {
            format,
            hex,
            value_only: false,
        }
    }

    fn unsupported(&self) -> CtlError {
        CtlError::bad_feature(format!(
            "{} not supported as output format",
            self.format.name()
        ))
    }

    fn io(result: std::io::Result<()>) -> PrintResult {
        // A closed stdout (e.g. `| head`) is not an error etcdctl reports.
        let _ = result;
        Ok(())
    }

    pub fn get(&self, sink: &mut Sink<'_>, r: &RangeResponse) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::get(sink.out, r, self.hex, self.value_only)),
            Format::Json => Self::io(json::print(sink.out, &json::range(r))),
            Format::Fields => Self::io(fields::get(sink.out, r)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, r)),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn put(&self, sink: &mut Sink<'_>, r: &PutResponse) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::put(sink.out, r, self.hex, self.value_only)),
            Format::Json => Self::io(json::print(sink.out, &json::put(r))),
            Format::Fields => Self::io(fields::put(sink.out, r)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, r)),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn del(&self, sink: &mut Sink<'_>, r: &DeleteRangeResponse) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::del(sink.out, r, self.hex, self.value_only)),
            Format::Json => Self::io(json::print(sink.out, &json::delete_range(r))),
            Format::Fields => Self::io(fields::del(sink.out, r)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, r)),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn txn(&self, sink: &mut Sink<'_>, r: &TxnResponse) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::txn(sink.out, r, self.hex, self.value_only)),
            Format::Json => Self::io(json::print(sink.out, &json::txn(r))),
            Format::Fields => Self::io(fields::txn(sink.out, r)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, r)),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn lease_grant(&self, sink: &mut Sink<'_>, r: &LeaseGrantResponse) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(writeln!(
                sink.out,
                "lease {:016x} granted with TTL({}s)",
                r.id, r.ttl
            )),
            Format::Json => Self::io(json::print(sink.out, &json::lease_grant(r))),
            Format::Fields => Self::io(fields::lease_id_ttl(sink.out, &r.header, r.id, r.ttl)),
            // etcdctl marshals only the header embedded in clientv3's struct.
            Format::Protobuf => Self::io(protobuf::print(sink.out, &r.header.unwrap_or_default())),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn lease_revoke(
        &self,
        sink: &mut Sink<'_>,
        id: i64,
        r: &LeaseRevokeResponse,
    ) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(writeln!(sink.out, "lease {id:016x} revoked")),
            Format::Json => Self::io(json::print(sink.out, &json::lease_revoke(r))),
            Format::Fields => Self::io(fields::header(sink.out, &r.header)),
            // clientv3's revoke response has no Marshal method of its own.
            Format::Protobuf => Err(CtlError::bad_feature(format!(
                "marshal unsupported for type clientv3.LeaseRevokeResponse ({{{} {{}} [] 0}})",
                r.header
                    .as_ref()
                    .map_or_else(|| "<nil>".to_string(), header_text)
            ))),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn lease_keep_alive(&self, sink: &mut Sink<'_>, r: &LeaseKeepAliveResponse) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(writeln!(
                sink.out,
                "lease {:016x} keepalived with TTL({})",
                r.id, r.ttl
            )),
            Format::Json => Self::io(json::print(sink.out, &json::lease_keep_alive(r))),
            Format::Fields => Self::io(fields::lease_id_ttl(sink.out, &r.header, r.id, r.ttl)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, &r.header.unwrap_or_default())),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn lease_time_to_live(
        &self,
        sink: &mut Sink<'_>,
        r: &LeaseTimeToLiveResponse,
        keys: bool,
    ) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::lease_time_to_live(sink.out, r, keys)),
            Format::Json => Self::io(json::print(sink.out, &json::lease_time_to_live(r))),
            Format::Fields => Self::io(fields::lease_time_to_live(sink.out, r)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, &r.header.unwrap_or_default())),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn lease_leases(&self, sink: &mut Sink<'_>, r: &LeaseLeasesResponse) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::lease_leases(sink.out, r)),
            Format::Json => Self::io(json::print(sink.out, &json::lease_leases(r))),
            Format::Fields => Self::io(fields::lease_leases(sink.out, r)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, &r.header.unwrap_or_default())),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn watch(&self, sink: &mut Sink<'_>, w: &Watched) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::watch(sink.out, w, self.hex)),
            Format::Json => Self::io(json::print(sink.out, &json::watch(w))),
            Format::Fields => Self::io(fields::watch(sink.out, w)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, &protobuf::watch(w))),
            Format::Table => Err(self.unsupported()),
        }
    }

    pub fn member_list(&self, sink: &mut Sink<'_>, r: &MemberListResponse) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::member_list(sink.out, r)),
            Format::Json if self.hex => Self::io(json::print(sink.out, &json::member_list_hex(r))),
            Format::Json => Self::io(json::print(sink.out, &json::member_list(r))),
            Format::Fields => Self::io(fields::member_list(sink.out, r)),
            Format::Protobuf => Self::io(protobuf::print(sink.out, r)),
            Format::Table => Self::io(table::member_list(sink.out, r)),
        }
    }

    pub fn member_change(&self, sink: &mut Sink<'_>, change: &MemberChange<'_>) -> PrintResult {
        match self.format {
            Format::Simple => {
                let cluster = change.header().cluster_id;
                let (id, what) = match change {
                    MemberChange::Added(r) => (r.member.as_ref().map_or(0, |m| m.id), "added to"),
                    MemberChange::Removed(id, _) => (*id, "removed from"),
                    MemberChange::Updated(id, _) => (*id, "updated in"),
                    MemberChange::Promoted(id, _) => (*id, "promoted in"),
                };
                Self::io(writeln!(
                    sink.out,
                    "Member {id:>16x} {what} cluster {cluster:>16x}"
                ))
            }
            Format::Json => Self::io(json::print(sink.out, &json::member_change(change))),
            Format::Protobuf => Self::io(match change {
                MemberChange::Added(r) => protobuf::print(sink.out, *r),
                MemberChange::Removed(_, r) => protobuf::print(sink.out, *r),
                MemberChange::Updated(_, r) => protobuf::print(sink.out, *r),
                MemberChange::Promoted(_, r) => protobuf::print(sink.out, *r),
            }),
            Format::Fields | Format::Table => Err(self.unsupported()),
        }
    }

    pub fn endpoint_health(&self, sink: &mut Sink<'_>, list: &[EpHealth]) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::endpoint_health(sink.out, sink.err, list)),
            Format::Json => Self::io(json::print(sink.out, &json::endpoint_health(list))),
            Format::Fields => Self::io(fields::endpoint_health(sink.out, list)),
            Format::Table => Self::io(table::endpoint_health(sink.out, list)),
            Format::Protobuf => Err(self.unsupported()),
        }
    }

    pub fn endpoint_status(&self, sink: &mut Sink<'_>, list: &[EpStatus]) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::endpoint_status(sink.out, list)),
            Format::Json => Self::io(json::print(sink.out, &json::endpoint_status(list))),
            Format::Fields => Self::io(fields::endpoint_status(sink.out, list)),
            Format::Table => Self::io(table::endpoint_status(sink.out, list)),
            Format::Protobuf => Err(self.unsupported()),
        }
    }

    pub fn endpoint_hashkv(&self, sink: &mut Sink<'_>, list: &[EpHashKv]) -> PrintResult {
        match self.format {
            Format::Simple => Self::io(simple::endpoint_hashkv(sink.out, list)),
            Format::Json => Self::io(json::print(sink.out, &json::endpoint_hashkv(list))),
            Format::Fields => Self::io(fields::endpoint_hashkv(sink.out, list)),
            Format::Table => Self::io(table::endpoint_hashkv(sink.out, list)),
            Format::Protobuf => Err(self.unsupported()),
        }
    }
}

/// gogo protobuf's compact text form of a header (`cluster_id:1 revision:2 `),
/// which Go's `%v` prints for it.
fn header_text(h: &ResponseHeader) -> String {
    let mut text = String::new();
    for (name, value) in [
        ("cluster_id", h.cluster_id as i128),
        ("member_id", h.member_id as i128),
        ("revision", h.revision as i128),
        ("raft_term", h.raft_term as i128),
    ] {
        if value != 0 {
            text.push_str(&format!("{name}:{value} "));
        }
    }
    text
}

/// The rows etcdctl shows for `member list` (simple and table formats).
fn member_list_rows(r: &MemberListResponse) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "ID",
        "Status",
        "Name",
        "Peer Addrs",
        "Client Addrs",
        "Is Learner",
    ];
    let rows = r
        .members
        .iter()
        .map(|m| {
            vec![
                format!("{:x}", m.id),
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                }
                .to_string(),
                m.name.clone(),
                m.peer_ur_ls.join(","),
                m.client_ur_ls.join(","),
                m.is_learner.to_string(),
            ]
        })
        .collect();
    (header, rows)
}

/// The rows etcdctl shows for `endpoint health`.
fn endpoint_health_rows(list: &[EpHealth]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec!["endpoint", "health", "took", "error"];
    let rows = list
        .iter()
        .map(|h| {
            vec![
                h.ep.clone(),
                h.health.to_string(),
                h.took.clone(),
                h.error.clone(),
            ]
        })
        .collect();
    (header, rows)
}

/// The rows etcdctl shows for `endpoint status`.
fn endpoint_status_rows(list: &[EpStatus]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "endpoint",
        "ID",
        "version",
        "db size",
        "is leader",
        "is learner",
        "raft term",
        "raft index",
        "raft applied index",
        "errors",
    ];
    let rows = list
        .iter()
        .map(|s| {
            let member_id = s.resp.header.as_ref().map_or(0, |h| h.member_id);
            vec![
                s.ep.clone(),
                format!("{member_id:x}"),
                s.resp.version.clone(),
                crate::golang::humanize_bytes(s.resp.db_size.max(0) as u64),
                (s.resp.leader == member_id).to_string(),
                s.resp.is_learner.to_string(),
                s.resp.raft_term.to_string(),
                s.resp.raft_index.to_string(),
                s.resp.raft_applied_index.to_string(),
                s.resp.errors.join(", "),
            ]
        })
        .collect();
    (header, rows)
}

/// The rows etcdctl shows for `endpoint hashkv`.
fn endpoint_hashkv_rows(list: &[EpHashKv]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec!["endpoint", "hash"];
    let rows = list
        .iter()
        .map(|h| vec![h.ep.clone(), h.resp.hash.to_string()])
        .collect();
    (header, rows)
}
