//! Differential conformance: run one etcdctl script against several clusters,
//! normalize what legitimately differs between them, compare line by line.
//!
//! [`conformance_run`] does one whole run: start a fresh cluster, learn its
//! IDs, run the script with a CLI, normalize. The test in
//! `tests/conformance.rs` compares the runs.

pub mod compare;
pub mod normalize;
pub mod runner;
pub mod script;

use std::path::{Path, PathBuf};

use crate::cluster::{Cluster, ClusterSpec};
use crate::error::{HarnessError, Result};
pub use compare::{compare, render_run, Run};
pub use normalize::{Normalized, Normalizer};
pub use runner::{run_script, RawOutcome};
pub use script::{parse_script, ScriptLine, Target};

/// Flags every conformance cluster (etcd and cairn alike) is started with.
pub const CONFORMANCE_SERVER_FLAGS: [&str; 4] =
    ["--max-txn-ops", "8", "--max-request-bytes", "4096"];

/// The script shipped in `tests/conformance/script.txt`.
pub fn script_path() -> PathBuf {
    crate::binaries::workspace_root().join("tests/conformance/script.txt")
}

/// The lines only etcdctl runs (cairnctl has no such commands).
pub fn etcdctl_only_script_path() -> PathBuf {
    crate::binaries::workspace_root().join("tests/conformance/etcdctl_only.txt")
}

/// Reads and parses a script file.
pub fn load_script(path: &Path) -> Result<Vec<ScriptLine>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError::io(format!("reading {}", path.display()), e))?;
    parse_script(&text).map_err(|e| HarnessError::Other(format!("{}: {e}", path.display())))
}

/// A finished run: its normalized [`Run`], the raw outputs and the
/// normalizer that was used (so tests can re-normalize altered raw outputs).
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Normalized outcomes.
    pub run: Run,
    /// Raw outcomes, one per script line.
    pub raw: Vec<RawOutcome>,
    /// The normalizer built from this run's cluster.
    pub normalizer: Normalizer,
}

impl RunRecord {
    /// Re-normalizes `raw` outcomes (e.g. deliberately altered copies of
    /// [`RunRecord::raw`]) with this run's normalizer.
    pub fn renormalize(&self, script: &[ScriptLine], raw: &[RawOutcome]) -> Run {
        let outcomes = script
            .iter()
            .zip(raw)
            .map(|(line, raw)| self.normalizer.normalize(line, raw))
            .collect();
        Run::new(self.run.name.clone(), self.run.cli.clone(), outcomes)
    }
}

/// Starts a fresh 3-member cluster of `server` (members `m0 m1 m2`, flags
/// [`CONFORMANCE_SERVER_FLAGS`]), runs `script` with `cli`, and returns the
/// normalized run. Raw and normalized outputs are written to
/// `test-artifacts/conformance/<name>.raw.txt` and `<name>.txt`.
pub async fn conformance_run(
    name: &str,
    server: &Path,
    cli: &Path,
    script: &[ScriptLine],
) -> Result<RunRecord> {
    let spec = ClusterSpec::new(server, 3)
        .name_prefix("m")
        .token(format!("conformance-{name}"))
        .extra_args(CONFORMANCE_SERVER_FLAGS);
    let cluster = Cluster::start(spec).await?;
    let identity = cluster.identity().await?;
    let normalizer = Normalizer::for_cluster(&cluster, &identity);
    let script_owned = script.to_vec();
    let cli_owned = cli.to_path_buf();
    let (cluster, raws) = tokio::task::spawn_blocking(move || {
        let raws = run_script(&cli_owned, &cluster, &script_owned);
        (cluster, raws)
    })
    .await
    .map_err(|e| HarnessError::Other(format!("script runner panicked: {e}")))?;
    let (raws, leases) = raws?;
    drop(cluster);
    let normalizer = normalizer.with_leases(&leases);
    let outcomes = script
        .iter()
        .zip(&raws)
        .map(|(line, raw)| normalizer.normalize(line, raw))
        .collect();
    let run = Run {
        name: name.to_string(),
        cli: cli
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        outcomes,
    };
    write_artifacts(script, &run, &raws);
    Ok(RunRecord {
        run,
        raw: raws,
        normalizer,
    })
}

/// Best effort: a failure to write artifacts never fails a test.
fn write_artifacts(script: &[ScriptLine], run: &Run, raws: &[RawOutcome]) {
    let dir = crate::binaries::workspace_root().join("test-artifacts/conformance");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let _ = std::fs::write(
        dir.join(format!("{}.txt", run.name)),
        render_run(script, run),
    );
    let mut raw_text = format!(
        "# conformance run {} (raw, before normalization)\n",
        run.name
    );
    for (line, raw) in script.iter().zip(raws) {
        raw_text.push_str(&format!(
            "\n### line {}: {}\nexit: {:?}\n--- stdout\n{}--- stderr\n{}",
            line.line_no, line.text, raw.code, raw.stdout, raw.stderr
        ));
    }
    let _ = std::fs::write(dir.join(format!("{}.raw.txt", run.name)), raw_text);
}
