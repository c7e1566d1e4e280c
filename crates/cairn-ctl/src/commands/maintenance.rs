//! `defrag`, `alarm list|disarm` and `move-leader`, with etcdctl 3.5.1's output:
//! `defrag` runs on every `--endpoints` member (every member with `--cluster`;
//! a stopped member's data dir with `--data-dir`), `alarm disarm` clears every
//! raised alarm (clientv3's AlarmDisarm with an empty member), and `move-leader`
//! finds the leader among `--endpoints` and asks it to hand over.

use std::path::Path;

use cairn_proto::etcdserverpb::{AlarmMember, AlarmResponse, AlarmType};

use super::{arg_bytes, Ctx};
use crate::client::Client;
use crate::error::CtlError;
use crate::printer::Format;

fn io(e: std::io::Error) -> CtlError {
    CtlError::error(e.to_string())
}

pub fn defrag(ctx: &mut Ctx<'_>, data_dir: &str) -> Result<(), CtlError> {
    if !data_dir.is_empty() {
        let _ = write!(
            ctx.err,
            "Use `etcdutl defrag` instead. The --data-dir is going to be decomissioned in v3.6.\n\n"
        );
        defrag_offline(Path::new(data_dir)).map_err(CtlError::error)?;
    }
    let (settings, _printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let parent = Client::new(settings);
    let mut failed = false;
    for ep in super::endpoint::target_endpoints(ctx)? {
        let mut client = parent.for_endpoint(&ep);
        match ctx.block_on(client.defragment(timeout))? {
            Ok(()) => writeln!(ctx.out, "Finished defragmenting etcd member[{ep}]").map_err(io)?,
            Err(e) => {
                failed = true;
                writeln!(
                    ctx.err,
                    "Failed to defragment etcd member[{ep}] ({})",
                    e.message
                )
                .map_err(io)?;
            }
        }
    }
    if failed {
        return Err(CtlError::Silent(crate::error::exit::ERROR));
    }
    Ok(())
}

/// `defrag --data-dir`: the state database of a member that is not running,
/// rewritten in place (redb refuses a database another process has open).
/// Then, as etcdctl does, the online defragmentation of `--endpoints` follows.
fn defrag_offline(data_dir: &Path) -> Result<(), String> {
    let db = cairn_raft::datadir::DataDir::new(data_dir).db_path();
    if !db.is_file() {
        return Err(format!("open {}: no such file or directory", db.display()));
    }
    let store = cairn_mvcc::Store::open(&db).map_err(|e| e.to_string())?;
    store.defragment().map_err(|e| e.to_string())
}

/// gogoproto's text form of an AlarmMember (what etcdctl's `%+v` prints).
fn alarm_text(a: &AlarmMember) -> String {
    let name = AlarmType::try_from(a.alarm)
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|_| a.alarm.to_string());
    if a.alarm == 0 {
        format!("memberID:{} ", a.member_id)
    } else {
        format!("memberID:{} alarm:{name} ", a.member_id)
    }
}

fn print_alarms(ctx: &mut Ctx<'_>, format: Format, resp: &AlarmResponse) -> Result<(), CtlError> {
    if format == Format::Json {
        let header = resp.header.unwrap_or_default();
        let alarms: Vec<String> = resp
            .alarms
            .iter()
            .map(|a| format!("{{\"memberID\":{},\"alarm\":{}}}", a.member_id, a.alarm))
            .collect();
        let mut text = format!(
            "{{\"header\":{{\"cluster_id\":{},\"member_id\":{},\"revision\":{},\"raft_term\":{}}}",
            header.cluster_id, header.member_id, header.revision, header.raft_term
        );
        if !alarms.is_empty() {
            text.push_str(&format!(",\"alarms\":[{}]", alarms.join(",")));
        }
        text.push('}');
        return writeln!(ctx.out, "{text}").map_err(io);
    }
    for a in &resp.alarms {
        writeln!(ctx.out, "{}", alarm_text(a)).map_err(io)?;
    }
    Ok(())
}

pub fn alarm_list(ctx: &mut Ctx<'_>) -> Result<(), CtlError> {
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let resp = ctx
        .block_on(client.alarm_list(timeout))?
        .map_err(|e| CtlError::error(e.message))?;
    print_alarms(ctx, printer.format, &resp)
}

pub fn alarm_disarm(ctx: &mut Ctx<'_>) -> Result<(), CtlError> {
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let resp = ctx.block_on(async {
        let list = client.alarm_list(timeout).await?;
        let mut out = AlarmResponse {
            header: list.header,
            alarms: Vec::new(),
        };
        for a in &list.alarms {
            let r = client
                .alarm_deactivate(timeout, a.member_id, a.alarm)
                .await?;
            out.header = r.header;
            out.alarms.extend(r.alarms);
        }
        Ok::<_, crate::client::RpcError>(out)
    })?;
    let resp = resp.map_err(|e| CtlError::error(e.message))?;
    print_alarms(ctx, printer.format, &resp)
}

pub fn move_leader(ctx: &mut Ctx<'_>, args: &[std::ffi::OsString]) -> Result<(), CtlError> {
    let args = arg_bytes(args);
    if args.len() != 1 {
        return Err(CtlError::bad_args("move-leader command needs 1 argument"));
    }
    let text = String::from_utf8_lossy(&args[0]).into_owned();
    let target = crate::golang::parse_uint(&text, 16).map_err(CtlError::bad_args)?;
    let (settings, _printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let parent = Client::new(settings.clone());
    let mut leader = None;
    for ep in &settings.endpoints {
        let mut client = parent.for_endpoint(ep);
        let status = ctx
            .block_on(client.status(timeout))?
            .map_err(|e| CtlError::error(e.message))?;
        let me = status.header.as_ref().map(|h| h.member_id).unwrap_or(0);
        if me != 0 && me == status.leader {
            leader = Some((client, status.leader));
            break;
        }
    }
    let Some((mut client, leader_id)) = leader else {
        return Err(CtlError::bad_args(format!(
            "no leader endpoint given at [{}]",
            settings.endpoints.join(" ")
        )));
    };
    ctx.block_on(client.move_leader(timeout, target))?
        .map_err(|e| CtlError::error(e.message))?;
    writeln!(
        ctx.out,
        "Leadership transferred from {leader_id:x} to {target:x}"
    )
    .map_err(io)
}
