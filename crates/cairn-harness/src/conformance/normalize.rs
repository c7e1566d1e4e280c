//! The normalizer: rewrites a CLI's output so that two clusters that behave
//! identically produce identical text, by replacing ONLY values that
//! legitimately differ between clusters. Every rule and why it is legitimate:
//!
//! 1. Member IDs and the cluster ID (decimal and hex) → `<id:NAME>` /
//!    `<cluster-id>`, NAME taken from the cluster's own member list. IDs are
//!    hashes of the (random) peer ports, so they differ on every run. IDs
//!    below 2^32 are left alone: they could not be told from revisions.
//! 2. `127.0.0.1:PORT` → `<NAME:client>` / `<NAME:peer>`: ports are picked at
//!    runtime. Unknown ports are left alone.
//! 3. Nonzero raft terms (`"raft_term":N`, `"RaftTerm" : N`, `"raftTerm":N`, RAFT TERM
//!    columns): how many elections happened is a matter of timing.
//! 4. `endpoint status` only: raft index and applied index (the Raft log holds
//!    implementation-specific entries: conf changes, blank leader entries), DB
//!    size and size in use (bbolt vs redb files), which member is leader
//!    (`leader`, IS LEADER: decided by election timing), and the version's
//!    patch level and suffix (`3.5.1` → `3.5.*`: Cairn implements the 3.5
//!    API; a different major.minor still shows).
//! 5. `endpoint health` only: `took` durations (wall-clock time).
//! 6. Row order of `member list` (etcd sorts members by ID, which is random)
//!    and of `endpoint health` (printed in order of completion): sorted.
//! 7. Tables: cell padding and border widths depend on the width of the values
//!    replaced above, so cells are trimmed and borders reduced to `+---+`.
//! 8. The Go client library's own log lines on stderr (JSON with a `logger`
//!    field, e.g. `retrying of unary invoker failed`) carry timestamps and
//!    pointer addresses; they are moved out of stderr into `client_log` as
//!    `LEVEL LOGGER: MSG: ERROR` (which keeps the gRPC code and message). The
//!    comparison checks `client_log` only between runs of the same CLI binary:
//!    cairnctl is not the Go client library.
//!
//! Nothing else is touched: revisions, keys, values, versions, counts, hashes,
//! error messages and exit codes must match exactly.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::{Captures, Regex};

use crate::cluster::{Cluster, ClusterIdentity};
use crate::conformance::runner::RawOutcome;
use crate::conformance::script::ScriptLine;

/// IDs below this are never rewritten (see [`Normalizer::new`]).
pub const MIN_NORMALIZED_ID: u64 = 1 << 32;

/// One member's name and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAddress {
    /// Member name.
    pub name: String,
    /// Client port.
    pub client_port: u16,
    /// Peer port.
    pub peer_port: u16,
}

/// A line's outcome after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Normalized standard output.
    pub stdout: String,
    /// Normalized standard error, without client-library log lines.
    pub stderr: String,
    /// The client library's log lines, summarized (see rule 8).
    pub client_log: String,
    /// Exit code (`None`: killed).
    pub code: Option<i32>,
}

/// Rewrites outputs of one cluster's run. See the module comment.
#[derive(Debug, Clone)]
pub struct Normalizer {
    id_words: HashMap<String, String>,
    ports: HashMap<u16, String>,
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("bad regex {pattern}: {e}")))
}

macro_rules! re {
    ($pattern:expr) => {{
        static CELL: OnceLock<Regex> = OnceLock::new();
        regex(&CELL, $pattern)
    }};
}

impl Normalizer {
    /// A normalizer for a cluster with these IDs and addresses.
    pub fn new(identity: &ClusterIdentity, members: &[MemberAddress]) -> Normalizer {
        let mut id_words = HashMap::new();
        let ids = identity
            .member_ids
            .iter()
            .map(|(name, id)| (*id, format!("<id:{name}>")))
            .chain([(identity.cluster_id, "<cluster-id>".to_string())]);
        for (id, placeholder) in ids {
            // Small IDs (etcd's are random 64-bit hashes) would collide with
            // revisions and counts; they are left alone, so they show up as
            // differences instead of silently rewriting unrelated numbers.
            if id < MIN_NORMALIZED_ID {
                continue;
            }
            id_words.insert(id.to_string(), placeholder.clone());
            id_words.insert(format!("{id:x}"), placeholder);
        }
        let mut ports = HashMap::new();
        for m in members {
            ports.insert(m.client_port, format!("<{}:client>", m.name));
            ports.insert(m.peer_port, format!("<{}:peer>", m.name));
        }
        Normalizer { id_words, ports }
    }

    /// Also rewrites the IDs of the leases a run granted (hex as listed, and
    /// decimal) to `<lease:N>`, N counting grants from 1: IDs are generated.
    pub fn with_leases(mut self, hex_ids: &[String]) -> Normalizer {
        for (n, hex) in hex_ids.iter().enumerate() {
            let placeholder = format!("<lease:{}>", n + 1);
            if let Ok(id) = i64::from_str_radix(hex, 16) {
                self.id_words.insert(id.to_string(), placeholder.clone());
                self.id_words.insert(format!("{id:x}"), placeholder.clone());
                self.id_words
                    .insert(format!("{id:016x}"), placeholder.clone());
            }
            self.id_words.insert(hex.clone(), placeholder);
        }
        self
    }

    /// A normalizer for `cluster`, whose IDs are `identity`.
    pub fn for_cluster(cluster: &Cluster, identity: &ClusterIdentity) -> Normalizer {
        let members: Vec<MemberAddress> = (0..cluster.len())
            .map(|i| MemberAddress {
                name: cluster.name(i).to_string(),
                client_port: cluster.client_port(i),
                peer_port: cluster.peer_port(i),
            })
            .collect();
        Normalizer::new(identity, &members)
    }

    /// Normalizes one line's outcome.
    pub fn normalize(&self, line: &ScriptLine, raw: &RawOutcome) -> Normalized {
        let mut stderr = String::new();
        let mut client_log = String::new();
        for l in raw.stderr.lines() {
            match summarize_client_log(l) {
                Some(summary) => {
                    client_log.push_str(&self.common(&summary));
                    client_log.push('\n');
                }
                None => {
                    stderr.push_str(l);
                    stderr.push('\n');
                }
            }
        }
        // Collapse tables first: sorting padded rows would order them by padding.
        let mut stdout = collapse_tables(&self.common(&raw.stdout));
        let mut stderr = self.common(&stderr);
        let command: Vec<&str> = line.args.iter().take(2).map(String::as_str).collect();
        match command.as_slice() {
            ["endpoint", "status"] => stdout = endpoint_status(&stdout),
            ["endpoint", "health"] => {
                stdout = sort_rows(&endpoint_health(&stdout));
                stderr = sort_lines(&stderr);
            }
            ["member", "list"] => stdout = sort_rows(&stdout),
            ["lease", "timetolive"] => stdout = remaining_ttl(&stdout),
            ["lock", _] | ["elect", _] => stdout = session_keys(&stdout),
            _ => {}
        }
        Normalized {
            stdout,
            stderr,
            client_log,
            code: raw.code,
        }
    }

    /// Rules 1–3, applied to any text.
    fn common(&self, text: &str) -> String {
        let text = re!(r"127\.0\.0\.1:(\d{1,5})\b").replace_all(text, |c: &Captures| {
            c[1].parse::<u16>()
                .ok()
                .and_then(|p| self.ports.get(&p).cloned())
                .unwrap_or_else(|| c[0].to_string())
        });
        let text = re!(r"\b[0-9a-f]+\b").replace_all(&text, |c: &Captures| {
            self.id_words
                .get(&c[0])
                .cloned()
                .unwrap_or_else(|| c[0].to_string())
        });
        // Only nonzero terms: nested txn response headers carry 0, which must stay 0.
        let text = re!(r#""raft_term":[1-9]\d*"#).replace_all(&text, r#""raft_term":<term>"#);
        let text = re!(r#""raftTerm":[1-9]\d*"#).replace_all(&text, r#""raftTerm":<term>"#);
        let text = re!(r#""RaftTerm" : [1-9]\d*"#).replace_all(&text, r#""RaftTerm" : <term>"#);
        text.into_owned()
    }
}

/// Rule 9: a lease's remaining TTL depends on timing (`remaining(59s)`,
/// `"TTL":59`); the granted TTL is kept.
fn remaining_ttl(text: &str) -> String {
    let text = re!(r"remaining\(\d+s\)").replace_all(text, "remaining(<n>s)");
    re!(r#""(ttl|TTL)":\d+"#)
        .replace_all(&text, r#""$1":<n>"#)
        .into_owned()
}

/// Rule 10: `lock` and `elect` print keys named after their session's lease,
/// whose ID is generated: `name/694d7a2f3c1fd20b` → `name/<session>`.
/// (A name ending in a hex-looking last segment would be rewritten too; the
/// script avoids such names.)
fn session_keys(text: &str) -> String {
    // etcdctl prints the lease ID with %x: no leading zeros.
    re!(r"(?m)^(\S+)/[0-9a-f]{1,16}$")
        .replace_all(text, "$1/<session>")
        .into_owned()
}

/// `{"level":..,"logger":..,"msg":..,"error":..}` → `LEVEL LOGGER: MSG: ERROR`.
fn summarize_client_log(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or("");
    value.get("logger")?;
    let mut summary = format!("{} {}: {}", field("level"), field("logger"), field("msg"));
    if !field("error").is_empty() {
        summary.push_str(": ");
        summary.push_str(field("error"));
    }
    Some(summary)
}

/// `3.5.1`, `3.5.17-cairn.0.1` → `3.5.*`; anything else unchanged.
fn minor_version(version: &str) -> String {
    match re!(r"^(\d+\.\d+)\.\S*$").captures(version) {
        Some(c) => format!("{}.*", &c[1]),
        None => version.to_string(),
    }
}

/// Rule 4 on `endpoint status` output (simple, json, fields and table).
fn endpoint_status(text: &str) -> String {
    // json
    let text = re!(r#""version":"([^"]*)""#).replace_all(text, |c: &Captures| {
        format!(r#""version":"{}""#, minor_version(&c[1]))
    });
    let text = re!(r#""(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex)":\d+"#)
        .replace_all(&text, r#""$1":<$1>"#);
    let text = re!(r#""leader":[^,}]+"#).replace_all(&text, r#""leader":<leader>"#);
    // fields
    let text = re!(r#""Version" : "([^"]*)""#).replace_all(&text, |c: &Captures| {
        format!(r#""Version" : "{}""#, minor_version(&c[1]))
    });
    let text = re!(r#""(DBSize|DBSizeInUse|RaftIndex|RaftAppliedIndex)" : \d+"#)
        .replace_all(&text, r#""$1" : <$1>"#);
    let text = re!(r#""Leader" : \S+"#).replace_all(&text, r#""Leader" : <leader>"#);
    let mut out = String::new();
    let mut table_header: Option<Vec<String>> = None;
    for line in text.lines() {
        if line.starts_with('|') {
            let cells = table_cells(line);
            match &table_header {
                None => {
                    table_header = Some(cells.iter().map(|c| c.to_string()).collect());
                    out.push_str(line);
                }
                Some(header) => {
                    let cells: Vec<String> = cells
                        .iter()
                        .zip(
                            header
                                .iter()
                                .map(String::as_str)
                                .chain(std::iter::repeat("")),
                        )
                        .map(|(cell, column)| match column {
                            "VERSION" => minor_version(cell),
                            "DB SIZE" => "<db-size>".to_string(),
                            "IS LEADER" => "<is-leader>".to_string(),
                            "RAFT TERM" => "<term>".to_string(),
                            "RAFT INDEX" => "<raftIndex>".to_string(),
                            "RAFT APPLIED INDEX" => "<raftAppliedIndex>".to_string(),
                            _ => cell.to_string(),
                        })
                        .collect();
                    out.push_str(&join_cells(&cells));
                }
            }
        } else if line.starts_with("http") && line.contains(", ") {
            // simple: endpoint, ID, version, db size, is leader, is learner,
            // raft term, raft index, raft applied index, errors
            let mut cols: Vec<String> = line.splitn(10, ", ").map(str::to_string).collect();
            if cols.len() >= 9 {
                cols[2] = minor_version(&cols[2]);
                cols[3] = "<db-size>".into();
                cols[4] = "<is-leader>".into();
                cols[6] = "<term>".into();
                cols[7] = "<raftIndex>".into();
                cols[8] = "<raftAppliedIndex>".into();
            }
            out.push_str(&cols.join(", "));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Rule 5 on `endpoint health` output.
fn endpoint_health(text: &str) -> String {
    let text = re!(r"took = \S+").replace_all(text, "took = <took>");
    let text = re!(r#""took":"[^"]*""#).replace_all(&text, r#""took":"<took>""#);
    let mut out = String::new();
    let mut took_column: Option<usize> = None;
    for line in text.lines() {
        if line.starts_with('|') {
            let cells = table_cells(line);
            match took_column {
                None => {
                    took_column = cells.iter().position(|c| *c == "TOOK");
                    out.push_str(line);
                }
                Some(col) => {
                    let cells: Vec<String> = cells
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            if i == col {
                                "<took>".to_string()
                            } else {
                                c.to_string()
                            }
                        })
                        .collect();
                    out.push_str(&join_cells(&cells));
                }
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Rule 6: sorts the rows of a listing in any output format: JSON arrays
/// (a top-level array, or the `"members"` array), `-w fields` blocks (each
/// starting at `"ID" :`), table data rows and plain lines.
fn sort_rows(text: &str) -> String {
    let trimmed = text.trim_end();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let sorted = sort_json_array(trimmed, "[")
            .or_else(|| sort_json_array(trimmed, r#""members":["#))
            .unwrap_or_else(|| trimmed.to_string());
        return format!("{sorted}\n");
    }
    if trimmed.starts_with('"') {
        return sort_field_blocks(text);
    }
    if trimmed.starts_with('+') {
        return sort_table_rows(text);
    }
    sort_lines(text)
}

fn sort_lines(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Sorts the elements of the first JSON array that starts right after
/// `opener` (whose last character is `[`). `None` if there is no such array.
fn sort_json_array(text: &str, opener: &str) -> Option<String> {
    let start = if opener == "[" {
        text.starts_with('[').then_some(1)?
    } else {
        text.find(opener)? + opener.len()
    };
    let body = &text[start..];
    let mut elements = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut element_start) = (0i32, false, false, 0usize);
    let mut end = None;
    for (i, c) in body.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' => depth -= 1,
            ']' if depth == 0 => {
                end = Some(i);
                break;
            }
            ']' => depth -= 1,
            ',' if depth == 0 => {
                elements.push(&body[element_start..i]);
                element_start = i + 1;
            }
            _ => {}
        }
    }
    let end = end?;
    if end > element_start {
        elements.push(&body[element_start..end]);
    }
    elements.sort_unstable();
    Some(format!(
        "{}{}{}",
        &text[..start],
        elements.join(","),
        &body[end..]
    ))
}

/// Sorts `-w fields` member blocks (each starts at a `"ID" :` line); lines
/// before the first block (the response header) stay first.
fn sort_field_blocks(text: &str) -> String {
    let mut head = String::new();
    let mut blocks: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("\"ID\" :") {
            blocks.push(String::new());
        }
        let target = blocks.last_mut().unwrap_or(&mut head);
        target.push_str(line);
        target.push('\n');
    }
    blocks.sort_unstable();
    head + &blocks.concat()
}

/// Sorts a table's data rows (the `|` lines after the first one).
fn sort_table_rows(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(header) = lines.iter().position(|l| l.starts_with('|')) else {
        return text.to_string();
    };
    let mut rows: Vec<&str> = lines[header + 1..]
        .iter()
        .copied()
        .filter(|l| l.starts_with('|'))
        .collect();
    rows.sort_unstable();
    let mut rows = rows.into_iter();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let line = if i > header && line.starts_with('|') {
            rows.next().unwrap_or(line)
        } else {
            line
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn table_cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

fn join_cells<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = String::from("|");
    for c in cells {
        out.push(' ');
        out.push_str(c.as_ref());
        out.push_str(" |");
    }
    out
}

/// Rule 7: trims table cells and shortens borders.
fn collapse_tables(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("+-") && line.ends_with('+') {
            let columns = line.matches('+').count().saturating_sub(1);
            out.push('+');
            for _ in 0..columns {
                out.push_str("---+");
            }
        } else if line.starts_with('|') && line.ends_with('|') {
            out.push_str(&join_cells(&table_cells(line)));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !text.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_and_remaining_ttls() {
        assert_eq!(
            session_keys("mylock/2dea225999b4a9d\nmylock/694d7a2f3c1fd20b\nproposal\n"),
            "mylock/<session>\nmylock/<session>\nproposal\n"
        );
        assert_eq!(
            remaining_ttl("lease 1 granted with TTL(100s), remaining(97s)"),
            "lease 1 granted with TTL(100s), remaining(<n>s)"
        );
        assert_eq!(
            remaining_ttl(r#"{"ttl":99,"TTL":5}"#),
            r#"{"ttl":<n>,"TTL":<n>}"#
        );
    }
    use crate::conformance::script::parse_script;

    fn normalizer(m0: u64, m1: u64, cluster: u64, base_port: u16) -> Normalizer {
        let identity = ClusterIdentity {
            cluster_id: cluster,
            member_ids: [("m0".to_string(), m0), ("m1".to_string(), m1)].into(),
        };
        let members = [
            MemberAddress {
                name: "m0".into(),
                client_port: base_port,
                peer_port: base_port + 1,
            },
            MemberAddress {
                name: "m1".into(),
                client_port: base_port + 2,
                peer_port: base_port + 3,
            },
        ];
        Normalizer::new(&identity, &members)
    }

    fn line(text: &str) -> ScriptLine {
        parse_script(text).expect("parses").remove(0)
    }

    fn raw(stdout: &str, stderr: &str, code: i32) -> RawOutcome {
        RawOutcome {
            stdout: stdout.into(),
            stderr: stderr.into(),
            code: Some(code),
        }
    }

    #[test]
    fn ids_ports_and_terms_are_normalized() {
        let a = normalizer(
            18315451855665099399,
            6390414038584679455,
            3139961604306376956,
            40000,
        );
        let b = normalizer(11 << 36, 0xabcdef << 36, 99 << 36, 50000);
        let get = line("get foo -w json");
        let out_a = raw(
            r#"{"header":{"cluster_id":3139961604306376956,"member_id":18315451855665099399,"revision":5,"raft_term":2},"count":1}"#,
            "",
            0,
        );
        let out_b = raw(
            r#"{"header":{"cluster_id":6803228196864,"member_id":755914244096,"revision":5,"raft_term":7},"count":1}"#,
            "",
            0,
        );
        assert_eq!(a.normalize(&get, &out_a), b.normalize(&get, &out_b));

        let list = line("member list");
        let list_a = raw(
            "58af4fb5d1825c1f, started, m1, http://127.0.0.1:40003, http://127.0.0.1:40002, false\n\
             fe2d8e6c5daff287, started, m0, http://127.0.0.1:40001, http://127.0.0.1:40000, false\n",
            "",
            0,
        );
        let list_b = raw(
            "b000000000, started, m0, http://127.0.0.1:50001, http://127.0.0.1:50000, false\n\
             abcdef000000000, started, m1, http://127.0.0.1:50003, http://127.0.0.1:50002, false\n",
            "",
            0,
        );
        assert_eq!(a.normalize(&list, &list_a), b.normalize(&list, &list_b));
    }

    #[test]
    fn small_ids_are_not_normalized() {
        let a = normalizer(2, 3, 4, 40000);
        let get = line("get foo -w json");
        let text = r#"{"header":{"cluster_id":4,"member_id":2,"revision":2}}"#;
        assert_eq!(a.normalize(&get, &raw(text, "", 0)).stdout, text);
    }

    #[test]
    fn changed_values_are_not_hidden() {
        let a = normalizer(1000000000000, 2000000000000, 3000000000000, 40000);
        let b = normalizer(1001000000000, 2001000000000, 3001000000000, 50000);
        let get = line("get foo -w json");
        let base = r#"{"header":{"cluster_id":3000000000000,"member_id":1000000000000,"revision":5,"raft_term":2},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":5,"version":4,"value":"YmFy"}],"count":1}"#;
        let same = r#"{"header":{"cluster_id":3001000000000,"member_id":1001000000000,"revision":5,"raft_term":3},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":5,"version":4,"value":"YmFy"}],"count":1}"#;
        assert_eq!(
            a.normalize(&get, &raw(base, "", 0)),
            b.normalize(&get, &raw(same, "", 0))
        );
        // Every one of these differs from `base` in one value a normalizer
        // must never touch.
        let changed = [
            same.replace(r#""revision":5"#, r#""revision":6"#),
            same.replace(r#""mod_revision":5"#, r#""mod_revision":4"#),
            same.replace(r#""create_revision":2"#, r#""create_revision":3"#),
            same.replace(r#""version":4"#, r#""version":5"#),
            same.replace("YmFy", "YmF6"),
            same.replace(r#""count":1"#, r#""count":2"#),
            same.replace(
                r#""member_id":1001000000000"#,
                r#""member_id":2001000000000"#,
            ),
        ];
        for c in &changed {
            assert_ne!(
                a.normalize(&get, &raw(base, "", 0)),
                b.normalize(&get, &raw(c, "", 0)),
                "normalizer hid a change: {c}"
            );
        }
        // Exit codes, stderr and the client log's gRPC code count too.
        let put = line("put '' v");
        let err = "{\"level\":\"warn\",\"ts\":\"2026-01-01T00:00:00Z\",\"logger\":\"etcd-client\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"etcd-endpoints://0xc0001/127.0.0.1:40000\",\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: key is not provided\"}\nError: etcdserver: key is not provided\n";
        let err_b = err
            .replace("2026-01-01T00:00:00Z", "2027-02-02T00:00:00Z")
            .replace("0xc0001", "0xc0099")
            .replace("40000", "50000");
        let n = a.normalize(&put, &raw("", err, 1));
        assert_eq!(n.stderr, "Error: etcdserver: key is not provided\n");
        assert_eq!(
            n.client_log,
            "warn etcd-client: retrying of unary invoker failed: rpc error: code = InvalidArgument desc = etcdserver: key is not provided\n"
        );
        assert_eq!(n, b.normalize(&put, &raw("", &err_b, 1)));
        assert_ne!(n, b.normalize(&put, &raw("", &err_b, 2)));
        assert_ne!(
            n,
            b.normalize(
                &put,
                &raw("", &err_b.replace("InvalidArgument", "Unknown"), 1)
            )
        );
        assert_ne!(
            n,
            b.normalize(&put, &raw("", &err_b.replace("not provided", "missing"), 1))
        );
        // Hashes are compared, not normalized.
        let hash = line("@all endpoint hashkv");
        assert_ne!(
            a.normalize(&hash, &raw("http://127.0.0.1:40000, 4045381285\n", "", 0)),
            b.normalize(&hash, &raw("http://127.0.0.1:50000, 4045381286\n", "", 0))
        );
    }

    #[test]
    fn endpoint_status_keeps_what_matters() {
        let a = normalizer(1 << 40, 2 << 40, 3 << 40, 40000);
        let status = line("@all endpoint status -w table");
        let table = "+------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+\n\
                     |        ENDPOINT        |        ID        | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |\n\
                     +------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+\n\
                     | http://127.0.0.1:40000 | 10000000000 |   3.5.1 |   20 kB |     false |      false |         2 |         13 |                 13 |        |\n\
                     +------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+\n";
        let n = a.normalize(&status, &raw(table, "", 0));
        assert!(n.stdout.contains(
            "| http://<m0:client> | <id:m0> | 3.5.* | <db-size> | <is-leader> | false | <term> | <raftIndex> | <raftAppliedIndex> |  |"
        ), "{}", n.stdout);
        let learner = a.normalize(
            &status,
            &raw(
                &table.replace("|      false |         2", "|       true |         2"),
                "",
                0,
            ),
        );
        assert_ne!(n, learner, "IS LEARNER must not be normalized");
        let old = a.normalize(&status, &raw(&table.replace("3.5.1", "3.4.9"), "", 0));
        assert_ne!(n, old, "major.minor version must not be normalized");
    }

    #[test]
    fn json_arrays_and_field_blocks_sort() {
        assert_eq!(
            sort_json_array(
                r#"{"h":{"a":[1,2]},"members":[{"n":"b","u":["x,y"]},{"n":"a"}]}"#,
                r#""members":["#
            ),
            Some(r#"{"h":{"a":[1,2]},"members":[{"n":"a"},{"n":"b","u":["x,y"]}]}"#.to_string())
        );
        assert_eq!(
            sort_field_blocks(
                "\"H\" : 1\n\"ID\" : 2\n\"Name\" : \"b\"\n\n\"ID\" : 1\n\"Name\" : \"a\"\n\n"
            ),
            "\"H\" : 1\n\"ID\" : 1\n\"Name\" : \"a\"\n\n\"ID\" : 2\n\"Name\" : \"b\"\n\n"
        );
    }
}
