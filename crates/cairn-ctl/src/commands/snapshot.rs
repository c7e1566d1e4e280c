//! `snapshot save|status|restore`. `save` streams Maintenance.Snapshot from one
//! member into an etcd-format snapshot file (checked against its SHA-256 trailer
//! before it is renamed into place). `status` and `restore` are offline: `status`
//! prints what `etcdutl snapshot status` prints; `restore` builds a Cairn data dir
//! for a new cluster from an etcd (or Cairn) snapshot file, with etcd's flags.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cairn_raft::bootstrap::{self, RestoreTarget, RestoredState};
use cairn_raft::NodeError;

use crate::cli::SnapshotRestoreArgs;
use crate::commands::spinner::run_with_spinner;
use crate::commands::{arg_bytes, Ctx};
use crate::error::CtlError;
use crate::golang::humanize_bytes;
use crate::printer::Format;
use crate::zaplog::{self, Field, LogStyle};

fn log(
    ctx: &mut Ctx<'_>,
    logger: Option<&'static str>,
    caller: &str,
    msg: &str,
    fields: &[(&str, Field<'_>)],
) {
    let style = LogStyle::Production(logger);
    zaplog::log(ctx.err, &style, "info", caller, msg, fields);
}

/// The single file argument of `save`, `status` and `restore`.
fn file_arg(args: &[std::ffi::OsString], command: &str) -> Result<PathBuf, CtlError> {
    let args = arg_bytes(args);
    if args.len() != 1 {
        return Err(CtlError::bad_args(format!(
            "snapshot {command} expects one argument"
        )));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&args[0]).into_owned(),
    ))
}

pub fn save(ctx: &mut Ctx<'_>, args: &[std::ffi::OsString]) -> Result<(), CtlError> {
    let path = file_arg(args, "save")?;
    let (settings, _printer) = ctx.globals.client_config(ctx.err)?;
    if settings.endpoints.len() != 1 {
        return Err(CtlError::bad_args(format!(
            "snapshot must be requested to one selected node, not multiple [{}]",
            settings.endpoints.join(" ")
        )));
    }
    let endpoint = settings.endpoints[0].clone();
    let partial = PathBuf::from(format!("{}.part", path.display()));
    let shown_partial = partial.display().to_string();
    log(
        ctx,
        None,
        "snapshot/v3_snapshot.go:65",
        "created temporary db file",
        &[("path", Field::Str(&shown_partial))],
    );
    let started = Instant::now();
    let mut client = crate::client::Client::new(settings);
    // Written and hashed as it arrives; renamed into place once checked.
    let mut out = PartialFile::create(&partial)?;
    let mut stream = ctx
        .block_on(client.snapshot())?
        .map_err(|e| CtlError::error(e.message))?;
    // As etcdctl: logged once the stream is open, before the transfer.
    log(
        ctx,
        None,
        "snapshot/v3_snapshot.go:73",
        "fetching snapshot",
        &[("endpoint", Field::Str(&endpoint))],
    );
    let received = ctx.block_on(async {
        let mut check = cairn_snapshot::StreamVerifier::new();
        let mut received = 0u64;
        loop {
            match stream.message().await {
                Ok(Some(chunk)) => {
                    check.update(&chunk.blob);
                    out.write(&chunk.blob)?;
                    received += chunk.blob.len() as u64;
                }
                Ok(None) => return Ok((received, check)),
                Err(status) => {
                    return Err(CtlError::error(crate::error::client_error_message(
                        status.code(),
                        status.message(),
                    )))
                }
            }
        }
    })?;
    let (received, check) = received?;
    // A snapshot stream always ends with the SHA-256 of what came before.
    check
        .finish()
        .map_err(|e| CtlError::error(format!("snapshot from {endpoint} is damaged: {e}")))?;
    out.sync()?;
    let size = humanize_bytes(received);
    let took = format!("{:?}", started.elapsed());
    log(
        ctx,
        None,
        "snapshot/v3_snapshot.go:88",
        "fetched snapshot",
        &[
            ("endpoint", Field::Str(&endpoint)),
            ("size", Field::Str(&size)),
            ("took", Field::Str(&took)),
        ],
    );
    std::fs::rename(&partial, &path).map_err(|e| {
        CtlError::error(format!(
            "could not rename {} to {}: {e}",
            partial.display(),
            path.display()
        ))
    })?;
    let shown = path.display().to_string();
    log(
        ctx,
        None,
        "snapshot/v3_snapshot.go:97",
        "saved",
        &[("path", Field::Str(&shown))],
    );
    writeln!(ctx.out, "Snapshot saved at {shown}").map_err(|e| CtlError::error(e.to_string()))?;
    Ok(())
}

/// A file being received, removed unless it is completely written and synced.
struct PartialFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl PartialFile {
    fn create(path: &Path) -> Result<PartialFile, CtlError> {
        let file = std::fs::File::create(path).map_err(|e| Self::fail(path, e))?;
        Ok(PartialFile {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    fn fail(path: &Path, e: std::io::Error) -> CtlError {
        CtlError::error(format!("could not write {}: {e}", path.display()))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), CtlError> {
        match &mut self.file {
            Some(f) => f.write_all(bytes).map_err(|e| Self::fail(&self.path, e)),
            None => Err(CtlError::error(format!(
                "{} is closed",
                self.path.display()
            ))),
        }
    }

    /// Makes the file durable and keeps it (removes it if that fails).
    fn sync(mut self) -> Result<(), CtlError> {
        if let Some(f) = &self.file {
            f.sync_all().map_err(|e| Self::fail(&self.path, e))?;
        }
        self.file = None;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, CtlError> {
    std::fs::read(path).map_err(|e| CtlError::error(format!("open {}: {e}", path.display())))
}

pub fn status(ctx: &mut Ctx<'_>, args: &[std::ffi::OsString]) -> Result<(), CtlError> {
    let path = file_arg(args, "status")?;
    let _ = writeln!(
        ctx.err,
        "Deprecated: Use `etcdutl snapshot status` instead.\n"
    );
    let printer_format = ctx.globals.printer()?.format;
    let bytes = read_file(&path)?;
    let st = cairn_snapshot::file::status(&bytes).map_err(|e| CtlError::error(e.to_string()))?;
    let size = humanize_bytes(st.total_size);
    let text = match printer_format {
        Format::Json => format!(
            "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}\n",
            st.hash, st.revision, st.total_keys, st.total_size
        ),
        Format::Table => crate::printer::render_table(
            &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
            &[vec![
                format!("{:x}", st.hash),
                st.revision.to_string(),
                st.total_keys.to_string(),
                size,
            ]],
        ),
        Format::Fields => format!(
            "\"Hash\" : {}\n\"Revision\" : {}\n\"Keys\" : {}\n\"Size\" : {}\n",
            st.hash, st.revision, st.total_keys, st.total_size
        ),
        _ => format!(
            "{:x}, {}, {}, {}\n",
            st.hash, st.revision, st.total_keys, size
        ),
    };
    ctx.out
        .write_all(text.as_bytes())
        .map_err(|e| CtlError::error(e.to_string()))
}

/// etcd's `--initial-cluster` syntax: `name=url[,name=url...]`, a name may repeat.
fn parse_initial_cluster(s: &str) -> Result<Vec<(String, Vec<String>)>, CtlError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (name, url) = part
            .split_once('=')
            .ok_or_else(|| CtlError::error(format!("invalid --initial-cluster entry {part:?}")))?;
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, urls)) => urls.push(url.to_string()),
            None => out.push((name.to_string(), vec![url.to_string()])),
        }
    }
    Ok(out)
}

pub fn restore(ctx: &mut Ctx<'_>, a: &SnapshotRestoreArgs) -> Result<(), CtlError> {
    let path = file_arg(&a.args, "restore")?;
    let _ = writeln!(
        ctx.err,
        "Deprecated: Use `etcdutl snapshot restore` instead.\n"
    );
    if a.mark_compacted && a.bump_revision == 0 {
        return Err(CtlError::error("--mark-compacted requires --bump-revision"));
    }
    let data_dir = if a.data_dir.is_empty() {
        PathBuf::from(format!("{}.etcd", a.name))
    } else {
        PathBuf::from(&a.data_dir)
    };
    let target = RestoreTarget {
        data_dir: data_dir.clone(),
        name: a.name.clone(),
        initial_cluster: parse_initial_cluster(&a.initial_cluster)?,
        initial_cluster_token: a.initial_cluster_token.clone(),
        initial_advertise_peer_urls: a
            .initial_advertise_peer_urls
            .split(',')
            .map(str::to_string)
            .collect(),
    };
    let bytes = read_file(&path)?;
    restore_into(
        ctx,
        &path,
        &bytes,
        &target,
        a.skip_hash_check,
        a.bump_revision as i64,
        a.mark_compacted,
    )
    .map(drop)
}

/// Restores an etcd snapshot (`bytes`, read from `path`) into `target` (a
/// new data dir), moving the revision forward by `bump` and marking it
/// compacted if `mark`. Logs etcdutl's lines; returns the new member's identity.
///
/// The file's SHA-256 is checked on a thread of its own while the data dir is
/// built (the data dir only appears once it passed), and a mismatch is the
/// error reported whatever else failed, as etcdutl checks the hash first.
pub(crate) fn restore_into(
    ctx: &mut Ctx<'_>,
    path: &Path,
    bytes: &[u8],
    target: &RestoreTarget,
    skip_hash_check: bool,
    bump: i64,
    mark: bool,
) -> Result<cairn_raft::datadir::Identity, CtlError> {
    let db = cairn_snapshot::file::database(bytes, skip_hash_check)
        .map_err(|e| CtlError::error(e.to_string()))?;
    std::thread::scope(|s| {
        let mut hashing =
            (!skip_hash_check).then(|| s.spawn(|| cairn_snapshot::file::check_hash(bytes)));
        let mut hash_result = move || -> Result<(), String> {
            match hashing.take().map(|h| h.join()) {
                None => Ok(()),
                Some(Ok(checked)) => checked.map_err(|e| e.to_string()),
                Some(Err(_)) => Err("checking the snapshot's hash panicked".into()),
            }
        };
        let approve = || hash_result().map_err(NodeError::Config);
        let restored = restore_checked_file(ctx, path, db, target, bump, mark, approve);
        // Joined here when the restore failed before `approve` ran (a second
        // call answers Ok at once).
        hash_result().map_err(CtlError::error)?;
        restored
    })
}

/// [`restore_into`] once the trailer is known to be there: `db` is the bbolt
/// image; `approve` is called before the data dir is put in place.
fn restore_checked_file(
    ctx: &mut Ctx<'_>,
    path: &Path,
    db: &[u8],
    target: &RestoreTarget,
    bump: i64,
    mark: bool,
    approve: impl FnOnce() -> Result<(), NodeError> + Send,
) -> Result<cairn_raft::datadir::Identity, CtlError> {
    let data_dir = target.data_dir.clone();
    // The `key` bucket's rows stay in `bytes`: they are written from there.
    let (data, kvs) =
        cairn_snapshot::read_etcd_borrowed(db).map_err(|e| CtlError::error(e.to_string()))?;
    let shown = path.display().to_string();
    let shown_dir = data_dir.display().to_string();
    log(
        ctx,
        Some("etcdutl"),
        "snapshot/v3_snapshot.go:248",
        "restoring snapshot",
        &[
            ("path", Field::Str(&shown)),
            ("data-dir", Field::Str(&shown_dir)),
        ],
    );

    let mut newest = 1i64;
    for (key, _) in &kvs {
        if let Some((main, _, _)) = cairn_snapshot::schema::parse_revision_key(key) {
            newest = newest.max(main);
        }
    }
    let compacted = data.compact_revision.unwrap_or(-1);
    let current = newest.max(compacted);
    let bumped = current.saturating_add(bump);
    let state = RestoredState {
        kvs,
        leases: data.leases,
        current_revision: if bump > 0 { bumped } else { current },
        compact_revision: if mark { bumped } else { compacted },
    };
    let identity = run_with_spinner(ctx.err, "restoring snapshot", || {
        bootstrap::restore(target, state, approve)
    })
    .map_err(|e| CtlError::error(e.to_string()))?;
    let member = format!("{:x}", identity.member_id);
    let cluster = format!("{:x}", identity.cluster_id);
    log(
        ctx,
        Some("etcdutl"),
        "snapshot/v3_snapshot.go:269",
        "restored snapshot",
        &[
            ("path", Field::Str(&shown)),
            ("data-dir", Field::Str(&shown_dir)),
            ("member-id", Field::Str(&member)),
            ("cluster-id", Field::Str(&cluster)),
        ],
    );
    Ok(identity)
}
