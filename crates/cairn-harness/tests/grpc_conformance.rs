//! Differential conformance over gRPC, for request fields etcdctl 3.5.1 cannot
//! express: Range's min/max mod/create revision filters (alone and combined
//! with sort, limit, count_only, keys_only), Txn compares on `lease` (keys without
//! a lease; leased keys come with the Lease service) and with `range_end`. The same requests go to a
//! 1-member real etcd 3.5.1 and to the server under test; responses must be
//! identical except the header's cluster_id, member_id and raft_term.
//!
//! Server under test: `cairn`, or etcd itself with `CAIRN_TEST_SERVER=etcd`
//! (which checks that the request list is deterministic).

use cairn_harness::{etcd_bin, server_binary, Client, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::{
    compare, range_request, request_op, Compare, PutRequest, RangeRequest, RequestOp,
    ResponseHeader, TxnRequest,
};

/// One request of the list.
enum Op {
    Put(PutRequest),
    Range(RangeRequest),
    Txn(TxnRequest),
}

fn put(key: &str, value: &str) -> Op {
    Op::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    })
}

fn range(f: impl FnOnce(&mut RangeRequest)) -> Op {
    let mut r = RangeRequest {
        key: b"k".to_vec(),
        range_end: b"l".to_vec(),
        ..Default::default()
    };
    f(&mut r);
    Op::Range(r)
}

fn cmp(
    key: &str,
    range_end: &str,
    result: compare::CompareResult,
    target: compare::TargetUnion,
) -> Compare {
    let target_kind = match target {
        compare::TargetUnion::Version(_) => compare::CompareTarget::Version,
        compare::TargetUnion::CreateRevision(_) => compare::CompareTarget::Create,
        compare::TargetUnion::ModRevision(_) => compare::CompareTarget::Mod,
        compare::TargetUnion::Value(_) => compare::CompareTarget::Value,
        compare::TargetUnion::Lease(_) => compare::CompareTarget::Lease,
    };
    Compare {
        result: result as i32,
        target: target_kind as i32,
        key: key.into(),
        range_end: range_end.into(),
        target_union: Some(target),
    }
}

fn txn(compare: Vec<Compare>) -> Op {
    let get = RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: b"k".to_vec(),
            range_end: b"l".to_vec(),
            keys_only: true,
            ..Default::default()
        })),
    };
    Op::Txn(TxnRequest {
        compare,
        success: vec![get.clone()],
        failure: vec![],
    })
}

fn requests() -> Vec<(String, Op)> {
    use compare::CompareResult::{Equal, Greater, Less, NotEqual};
    use compare::TargetUnion as T;
    use range_request::{SortOrder, SortTarget};
    let mut ops: Vec<(String, Op)> = Vec::new();
    // History: k1..k5 created at revisions 2..6, then k2 and k4 rewritten.
    for (key, value) in [
        ("k1", "e"),
        ("k2", "d"),
        ("k3", "c"),
        ("k4", "b"),
        ("k5", "a"),
        ("k2", "dd"),
        ("k4", "bb"),
        ("k4", "bbb"),
    ] {
        ops.push((format!("put {key}={value}"), put(key, value)));
    }
    ops.push((
        "put with unknown lease".into(),
        Op::Put(PutRequest {
            key: b"k7".to_vec(),
            value: b"x".to_vec(),
            lease: 0x9999,
            ..Default::default()
        }),
    ));
    for (label, f) in [
        (
            "min_mod 7",
            Box::new(|r: &mut RangeRequest| r.min_mod_revision = 7)
                as Box<dyn FnOnce(&mut RangeRequest)>,
        ),
        (
            "max_mod 4",
            Box::new(|r: &mut RangeRequest| r.max_mod_revision = 4),
        ),
        (
            "min_mod 3 max_mod 6",
            Box::new(|r: &mut RangeRequest| {
                r.min_mod_revision = 3;
                r.max_mod_revision = 6;
            }),
        ),
        (
            "min_create 4",
            Box::new(|r: &mut RangeRequest| r.min_create_revision = 4),
        ),
        (
            "max_create 3",
            Box::new(|r: &mut RangeRequest| r.max_create_revision = 3),
        ),
        (
            "min_create 3 max_create 5",
            Box::new(|r: &mut RangeRequest| {
                r.min_create_revision = 3;
                r.max_create_revision = 5;
            }),
        ),
        (
            "min_mod 7 limit 1",
            Box::new(|r: &mut RangeRequest| {
                r.min_mod_revision = 7;
                r.limit = 1;
            }),
        ),
        (
            "min_mod 5 count_only",
            Box::new(|r: &mut RangeRequest| {
                r.min_mod_revision = 5;
                r.count_only = true;
            }),
        ),
        (
            "max_create 4 keys_only",
            Box::new(|r: &mut RangeRequest| {
                r.max_create_revision = 4;
                r.keys_only = true;
            }),
        ),
        (
            "min_mod 3 sort value descend",
            Box::new(|r: &mut RangeRequest| {
                r.min_mod_revision = 3;
                r.sort_target = SortTarget::Value as i32;
                r.sort_order = SortOrder::Descend as i32;
            }),
        ),
        (
            "max_mod 8 sort mod ascend limit 2",
            Box::new(|r: &mut RangeRequest| {
                r.max_mod_revision = 8;
                r.sort_target = SortTarget::Mod as i32;
                r.sort_order = SortOrder::Ascend as i32;
                r.limit = 2;
            }),
        ),
        (
            "min_mod 4 at revision 6",
            Box::new(|r: &mut RangeRequest| {
                r.min_mod_revision = 4;
                r.revision = 6;
            }),
        ),
        (
            "sort none with target version",
            Box::new(|r: &mut RangeRequest| {
                r.sort_target = SortTarget::Version as i32;
            }),
        ),
        (
            "limit 2 descend",
            Box::new(|r: &mut RangeRequest| {
                r.limit = 2;
                r.sort_order = SortOrder::Descend as i32;
            }),
        ),
        (
            "negative limit",
            Box::new(|r: &mut RangeRequest| r.limit = -1),
        ),
        (
            "serializable count",
            Box::new(|r: &mut RangeRequest| {
                r.serializable = true;
                r.count_only = true;
            }),
        ),
    ] {
        ops.push((format!("range {label}"), range(f)));
    }
    for (label, compares) in [
        // Compares on keys held by a lease come with the Lease service (issue 4).
        ("lease(k1) = 0", vec![cmp("k1", "", Equal, T::Lease(0))]),
        ("lease(k1) != 0", vec![cmp("k1", "", NotEqual, T::Lease(0))]),
        ("lease(k1) > 1", vec![cmp("k1", "", Greater, T::Lease(1))]),
        ("lease(k1) < 1", vec![cmp("k1", "", Less, T::Lease(1))]),
        (
            "range [k1,k4) version > 0",
            vec![cmp("k1", "k4", Greater, T::Version(0))],
        ),
        (
            "range [k1,k9) version < 2",
            vec![cmp("k1", "k9", Less, T::Version(2))],
        ),
        (
            "range [k,\\0) mod > 1",
            vec![cmp("k", "\0", Greater, T::ModRevision(1))],
        ),
        (
            "range [k2,k5) value = d",
            vec![cmp("k2", "k5", Equal, T::Value(b"d".to_vec()))],
        ),
        (
            "range [k3,k4) create = 4",
            vec![cmp("k3", "k4", Equal, T::CreateRevision(4))],
        ),
        (
            "range over nothing version = 0",
            vec![cmp("x1", "x9", Equal, T::Version(0))],
        ),
        (
            "value compare on missing key",
            vec![cmp("zz", "", Equal, T::Value(Vec::new()))],
        ),
    ] {
        ops.push((format!("txn {label}"), txn(compares)));
    }
    ops
}

/// Runs `op` and renders the answer, without what legitimately differs.
async fn run(client: &mut Client, op: &Op) -> String {
    fn clean(header: &mut Option<ResponseHeader>) {
        if let Some(h) = header.as_mut() {
            h.cluster_id = 0;
            h.member_id = 0;
            h.raft_term = 0;
        }
    }
    let result = match op {
        Op::Put(r) => client.kv.put(r.clone()).await.map(|r| {
            let mut r = r.into_inner();
            clean(&mut r.header);
            format!("{r:?}")
        }),
        Op::Range(r) => client.kv.range(r.clone()).await.map(|r| {
            let mut r = r.into_inner();
            clean(&mut r.header);
            format!("{r:?}")
        }),
        Op::Txn(r) => client.kv.txn(r.clone()).await.map(|r| {
            let mut r = r.into_inner();
            clean(&mut r.header);
            format!("{r:?}")
        }),
    };
    match result {
        Ok(text) => text,
        Err(status) => format!("error {:?}: {}", status.code(), status.message()),
    }
}

async fn answers(cluster: &Cluster) -> Vec<String> {
    let mut client = cluster.client(0).await.expect("client");
    let mut out = Vec::new();
    for (_, op) in requests() {
        out.push(run(&mut client, &op).await);
    }
    out
}

/// Best effort: `test-artifacts/grpc_conformance/<name>.txt`.
fn write_artifact(name: &str, labels: &[String], answers: &[String]) {
    let dir = cairn_harness::binaries::workspace_root().join("test-artifacts/grpc_conformance");
    if std::fs::create_dir_all(&dir).is_ok() {
        let text: String = labels
            .iter()
            .zip(answers)
            .map(|(l, a)| format!("--- {l}\n{a}\n"))
            .collect();
        let _ = std::fs::write(dir.join(format!("{name}.txt")), text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_match_etcd() {
    let candidate_binary = server_binary();
    let expected = {
        let etcd = Cluster::start(ClusterSpec::new(etcd_bin(), 1))
            .await
            .expect("etcd starts");
        answers(&etcd).await
    };
    let got = {
        let candidate = Cluster::start(ClusterSpec::new(candidate_binary, 1))
            .await
            .expect("server under test starts");
        answers(&candidate).await
    };
    let labels: Vec<String> = requests().into_iter().map(|(label, _)| label).collect();
    write_artifact("etcd", &labels, &expected);
    write_artifact(cairn_harness::ServerKind::from_env().name(), &labels, &got);
    let mut report = String::new();
    for ((label, e), g) in labels.iter().zip(&expected).zip(&got) {
        if e != g {
            report.push_str(&format!("--- {label}\n  etcd: {e}\n  got:  {g}\n"));
        }
    }
    assert!(
        report.is_empty(),
        "gRPC answers differ from etcd 3.5.1:\n{report}"
    );
    // Sanity: the filters were exercised (not every answer is an error).
    assert!(expected.iter().filter(|a| !a.starts_with("error")).count() > 30);
}
