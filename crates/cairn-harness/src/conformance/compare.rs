//! Line-by-line comparison of two normalized runs of the same script, with a
//! readable report (command, expected, got) of every mismatching line.

use std::fmt::Write as _;

use crate::conformance::normalize::Normalized;
use crate::conformance::script::ScriptLine;

/// One run's name and normalized outcomes, in script order.
#[derive(Debug, Clone)]
pub struct Run {
    /// E.g. `etcd`, `cairn-etcdctl`.
    pub name: String,
    /// Name of the CLI binary used (client logs are compared only between
    /// runs of the same CLI).
    pub cli: String,
    /// Outcomes, one per script line.
    pub outcomes: Vec<Normalized>,
}

impl Run {
    /// A run from normalized outcomes.
    pub fn new(name: impl Into<String>, cli: impl Into<String>, outcomes: Vec<Normalized>) -> Run {
        Run {
            name: name.into(),
            cli: cli.into(),
            outcomes,
        }
    }
}

/// Compares `got` with `expected`; returns a report of every mismatching line,
/// or `None` when they are equal.
pub fn compare(script: &[ScriptLine], expected: &Run, got: &Run) -> Option<String> {
    let mut report = String::new();
    let mut mismatches = 0usize;
    let compare_client_log = expected.cli == got.cli;
    for (i, line) in script.iter().enumerate() {
        let (Some(e), Some(g)) = (expected.outcomes.get(i), got.outcomes.get(i)) else {
            let _ = writeln!(report, "line {}: missing outcome", line.line_no);
            mismatches += 1;
            continue;
        };
        let mut diff = String::new();
        if e.code != g.code {
            let _ = writeln!(diff, "  exit code: expected {:?}, got {:?}", e.code, g.code);
        }
        for (what, ev, gv) in [
            ("stdout", &e.stdout, &g.stdout),
            ("stderr", &e.stderr, &g.stderr),
        ]
        .into_iter()
        .chain(compare_client_log.then_some(("client log", &e.client_log, &g.client_log)))
        {
            if ev != gv {
                let _ = writeln!(
                    diff,
                    "  {what} expected ({}):\n{}",
                    expected.name,
                    indent(ev)
                );
                let _ = writeln!(diff, "  {what} got ({}):\n{}", got.name, indent(gv));
            }
        }
        if !diff.is_empty() {
            mismatches += 1;
            let _ = writeln!(
                report,
                "--- script line {}: {}\n{diff}",
                line.line_no, line.text
            );
        }
    }
    (mismatches > 0).then(|| {
        format!(
            "{mismatches} of {} script lines differ between {} and {}:\n\n{report}",
            script.len(),
            expected.name,
            got.name
        )
    })
}

fn indent(text: &str) -> String {
    if text.is_empty() {
        return "    <empty>".to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        // Keep reports readable when a line is huge (e.g. a 5000-byte value).
        if line.chars().count() > 400 {
            let head: String = line.chars().take(400).collect();
            let _ = writeln!(out, "    | {head}... ({} chars)", line.chars().count());
        } else {
            let _ = writeln!(out, "    | {line}");
        }
    }
    out.trim_end().to_string()
}

/// Renders a run for `test-artifacts/`: every line with its normalized outcome.
pub fn render_run(script: &[ScriptLine], run: &Run) -> String {
    let mut out = format!("# conformance run {} (cli: {})\n", run.name, run.cli);
    for (line, o) in script.iter().zip(&run.outcomes) {
        let _ = writeln!(out, "\n### line {}: {}", line.line_no, line.text);
        let _ = writeln!(out, "exit: {:?}", o.code);
        for (what, text) in [
            ("stdout", &o.stdout),
            ("stderr", &o.stderr),
            ("client log", &o.client_log),
        ] {
            if !text.is_empty() {
                let _ = writeln!(out, "--- {what}\n{}", text.trim_end());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::script::parse_script;

    fn outcome(stdout: &str, code: i32) -> Normalized {
        Normalized {
            stdout: stdout.into(),
            stderr: String::new(),
            client_log: String::new(),
            code: Some(code),
        }
    }

    #[test]
    fn reports_every_mismatching_line() {
        let script = parse_script("get a\nget b\nget c\n").expect("parses");
        let expected = Run {
            name: "etcd".into(),
            cli: "etcdctl".into(),
            outcomes: vec![outcome("a\n1\n", 0), outcome("", 0), outcome("c\n3\n", 0)],
        };
        let mut got = expected.clone();
        assert_eq!(compare(&script, &expected, &got), None);
        got.name = "cairn".into();
        got.outcomes[0] = outcome("a\n2\n", 0);
        got.outcomes[2] = outcome("c\n3\n", 1);
        let report = compare(&script, &expected, &got).expect("differs");
        assert!(report.starts_with("2 of 3 script lines differ"), "{report}");
        assert!(report.contains("script line 1: get a"));
        assert!(report.contains("| 2"));
        assert!(report.contains("script line 3: get c"));
        assert!(report.contains("exit code: expected Some(0), got Some(1)"));
        assert!(!report.contains("script line 2"));
    }

    #[test]
    fn client_log_compared_only_for_the_same_cli() {
        let script = parse_script("put '' v\n").expect("parses");
        let mut e = outcome("", 1);
        e.client_log = "warn etcd-client: retrying\n".into();
        let expected = Run {
            name: "etcd".into(),
            cli: "etcdctl".into(),
            outcomes: vec![e],
        };
        let got = Run {
            name: "cairn-cairnctl".into(),
            cli: "cairnctl".into(),
            outcomes: vec![outcome("", 1)],
        };
        assert_eq!(compare(&script, &expected, &got), None);
        let got = Run {
            cli: "etcdctl".into(),
            ..got
        };
        assert!(compare(&script, &expected, &got).is_some());
    }
}
