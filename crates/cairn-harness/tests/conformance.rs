//! Differential conformance: `tests/conformance/script.txt` (etcdctl
//! invocations) runs against a fresh 3-member cluster of real etcd 3.5.1 and
//! of cairn; after normalization every line's stdout, stderr and exit code
//! must be identical.
//!
//! Runs compared:
//!   etcd            real etcdctl → real etcd 3.5.1   (the reference)
//!   cairn-etcdctl   real etcdctl → cairn
//!   cairn-cairnctl  cairnctl     → cairn
//! plus `etcd` against a second `etcd` run, which proves the script is
//! deterministic and the normalizer does not need to hide anything more.
//!
//! Normalizations (implemented and unit-tested in
//! `cairn_harness::conformance::normalize`; nothing else is touched):
//!   1. member IDs and the cluster ID (decimal and hex) → `<id:NAME>` /
//!      `<cluster-id>`, names from each cluster's own member list: IDs derive
//!      from the random ports;
//!   2. `127.0.0.1:PORT` → `<NAME:client>` / `<NAME:peer>`: ports are random;
//!   3. raft term: number of elections is timing;
//!   4. in `endpoint status` only: raft index / applied index (log entry kinds
//!      are implementation-specific), DB size (bbolt vs redb), which member
//!      leads (election timing), version patch level (`3.5.*`);
//!   5. in `endpoint health` only: `took` durations;
//!   6. row order of `member list` (sorted by random ID) and `endpoint health`
//!      (completion order): sorted;
//!   7. table padding/border widths (follow the widths of values above);
//!   8. Go client-library log lines on stderr (timestamps, pointers) are
//!      summarized to `LEVEL LOGGER: MSG: ERROR` and compared only between
//!      runs of the same CLI binary.
//!
//! Outputs of each run: `test-artifacts/conformance/<run>.txt` (normalized)
//! and `<run>.raw.txt`.

use cairn_harness::conformance::{
    compare, conformance_run, etcdctl_only_script_path, load_script, script_path, Run, RunRecord,
    ScriptLine,
};
use cairn_harness::{cairn_bin, cairnctl_bin, etcd_bin, etcdctl_bin};

fn script() -> Vec<ScriptLine> {
    let script = load_script(&script_path()).expect("tests/conformance/script.txt parses");
    assert!(script.len() >= 70, "script has only {} lines", script.len());
    script
}

async fn reference(script: &[ScriptLine]) -> RunRecord {
    conformance_run("etcd", &etcd_bin(), &etcdctl_bin(), script)
        .await
        .expect("reference run: etcdctl against real etcd 3.5.1")
}

fn assert_same(script: &[ScriptLine], expected: &Run, got: &Run) {
    if let Some(report) = compare(script, expected, got) {
        panic!(
            "{report}\n(full outputs: test-artifacts/conformance/{}.txt and {}.txt)",
            expected.name, got.name
        );
    }
}

/// Alters one raw output of `record` with `edit`, re-normalizes, and asserts
/// that the comparison with `expected` now fails on exactly that line.
fn assert_change_detected(
    script: &[ScriptLine],
    expected: &Run,
    record: &RunRecord,
    what: &str,
    find: impl Fn(&ScriptLine, &cairn_harness::conformance::RawOutcome) -> bool,
    edit: impl Fn(&mut cairn_harness::conformance::RawOutcome),
) {
    let index = script
        .iter()
        .zip(&record.raw)
        .position(|(line, raw)| find(line, raw))
        .unwrap_or_else(|| panic!("no script line to alter for: {what}"));
    let mut raw = record.raw.clone();
    edit(&mut raw[index]);
    assert_ne!(
        raw[index], record.raw[index],
        "{what}: edit changed nothing"
    );
    let altered = record.renormalize(script, &raw);
    let report = compare(script, expected, &altered).unwrap_or_else(|| {
        panic!(
            "normalization hid a changed {what} on line {}",
            script[index].text
        )
    });
    assert!(
        report.starts_with("1 of ") && report.contains(&script[index].text),
        "{what}: expected exactly line {:?} to differ:\n{report}",
        script[index].text
    );
}

/// etcd against etcd: the script is deterministic and the normalizer is
/// enough; and the normalizer does not hide changed values in real outputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_matches_etcd() {
    let script = script();
    let first = reference(&script).await;
    let second = conformance_run("etcd-again", &etcd_bin(), &etcdctl_bin(), &script)
        .await
        .expect("second etcd run");
    assert_same(&script, &first.run, &second.run);

    let expected = &first.run;
    assert_change_detected(
        &script,
        expected,
        &second,
        "header revision in json",
        |line, raw| line.args[0] == "get" && raw.stdout.contains("\"revision\":22,"),
        |raw| {
            raw.stdout = raw
                .stdout
                .replacen("\"revision\":22,", "\"revision\":23,", 1)
        },
    );
    assert_change_detected(
        &script,
        expected,
        &second,
        "mod_revision in json",
        |_, raw| raw.stdout.contains("\"mod_revision\":10,"),
        |raw| {
            raw.stdout = raw
                .stdout
                .replacen("\"mod_revision\":10,", "\"mod_revision\":11,", 1)
        },
    );
    assert_change_detected(
        &script,
        expected,
        &second,
        "value in simple output",
        |line, _| line.text == "get foo",
        |raw| raw.stdout = raw.stdout.replace("bar7", "bar8"),
    );
    assert_change_detected(
        &script,
        expected,
        &second,
        "hash in endpoint hashkv",
        |line, _| line.text == "@all endpoint hashkv",
        |raw| raw.stdout = raw.stdout.replacen(", ", ", 1", 1),
    );
    assert_change_detected(
        &script,
        expected,
        &second,
        "exit code",
        |line, _| line.text == "put \"\" emptykey",
        |raw| raw.code = Some(2),
    );
    assert_change_detected(
        &script,
        expected,
        &second,
        "gRPC code in the client log",
        |line, _| line.text == "put \"\" emptykey",
        |raw| raw.stderr = raw.stderr.replace("InvalidArgument", "Unknown"),
    );
    assert_change_detected(
        &script,
        expected,
        &second,
        "member name in member list",
        |line, _| line.text == "member list",
        |raw| raw.stdout = raw.stdout.replacen("started, m1", "started, m9", 1),
    );
}

/// Real etcdctl sees the same answers from cairn as from etcd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_against_cairn_matches_etcd() {
    let script = script();
    let cairn = cairn_bin();
    let expected = reference(&script).await;
    let got = conformance_run("cairn-etcdctl", &cairn, &etcdctl_bin(), &script)
        .await
        .expect("etcdctl against cairn");
    assert_same(&script, &expected.run, &got.run);
}

/// cairnctl against cairn prints what etcdctl against etcd prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairnctl_against_cairn_matches_etcd() {
    let script = script();
    let (cairn, cairnctl) = (cairn_bin(), cairnctl_bin());
    let expected = reference(&script).await;
    let got = conformance_run("cairn-cairnctl", &cairn, &cairnctl, &script)
        .await
        .expect("cairnctl against cairn");
    assert_same(&script, &expected.run, &got.run);
}

/// Commands cairnctl does not have (auth, user, role): real etcdctl sees the
/// same answers from cairn as from etcd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_only_lines_match_etcd() {
    let script = load_script(&etcdctl_only_script_path())
        .expect("tests/conformance/etcdctl_only.txt parses");
    assert!(script.len() >= 10, "script has only {} lines", script.len());
    let expected = conformance_run("etcd-etcdctl-only", &etcd_bin(), &etcdctl_bin(), &script)
        .await
        .expect("reference run: etcdctl against real etcd 3.5.1");
    let got = conformance_run("cairn-etcdctl-only", &cairn_bin(), &etcdctl_bin(), &script)
        .await
        .expect("etcdctl against cairn");
    assert_same(&script, &expected.run, &got.run);
}
