//! `endpoint health|status|hashkv [--cluster]`: per-endpoint checks, over the
//! `--endpoints` list or, with `--cluster`, every member's client URLs.

use std::time::Instant;

use cairn_proto::etcdserverpb::AlarmType;

use super::Ctx;
use crate::cli::HashkvArgs;
use crate::client::{Client, ConnectionSettings};
use crate::error::CtlError;
use crate::golang::GoDuration;
use crate::printer::{EpHashKv, EpHealth, EpStatus};
use crate::zaplog::LogStyle;

/// The endpoints to act on (`endpointsFromCluster`): `--endpoints`, or with
/// `--cluster` every member's client URLs.
pub(crate) fn target_endpoints(ctx: &mut Ctx<'_>) -> Result<Vec<String>, CtlError> {
    if !ctx.globals.cluster.unwrap_or(false) {
        return Ok(ctx.globals.args.endpoints.clone());
    }
    let endpoints = ctx.globals.endpoints().map_err(|e| match e {
        CtlError::Exit { message, .. } => CtlError::error(message),
        other => other,
    })?;
    let tls = ctx.globals.tls().map_err(|e| match e {
        CtlError::Exit { message, .. } => CtlError::error(message),
        other => other,
    })?;
    let settings = ctx.globals.connection(endpoints, tls, LogStyle::EtcdClient);
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let members = ctx.block_on(client.member_list(timeout))?.map_err(|e| {
        CtlError::error(format!(
            "failed to fetch endpoints from etcd cluster member list: {}",
            e.message
        ))
    })?;
    Ok(members
        .members
        .into_iter()
        .flat_map(|m| m.client_ur_ls)
        .collect())
}

/// Checks one endpoint: a linearizable read of key "health", then alarms.
async fn check_health(settings: ConnectionSettings, timeout: GoDuration) -> EpHealth {
    let ep = settings.endpoints.first().cloned().unwrap_or_default();
    let mut client = Client::new(settings);
    let started = Instant::now();
    let read = cairn_proto::etcdserverpb::RangeRequest {
        key: b"health".to_vec(),
        ..Default::default()
    };
    let result = client.range(timeout, read).await;
    let mut health = EpHealth {
        ep,
        health: false,
        took: GoDuration::from_std(started.elapsed()).to_string(),
        error: String::new(),
    };
    match result {
        Ok(_) => health.health = true,
        Err(e) if e.message == "etcdserver: permission denied" => health.health = true,
        Err(e) => health.error = e.message,
    }
    if health.health {
        match client.alarm_list(timeout).await {
            Ok(resp) if !resp.alarms.is_empty() => {
                health.health = false;
                health.error = String::from("Active Alarm(s): ");
                for alarm in &resp.alarms {
                    health
                        .error
                        .push_str(match AlarmType::try_from(alarm.alarm) {
                            Ok(AlarmType::Nospace) => "NOSPACE ",
                            Ok(AlarmType::Corrupt) => "CORRUPT ",
                            _ => "UNKNOWN ",
                        });
                }
            }
            Ok(_) => {}
            Err(_) => {
                health.health = false;
                health.error = String::from("Unable to fetch the alarm list");
            }
        }
    }
    health
}

pub fn health(ctx: &mut Ctx<'_>) -> Result<(), CtlError> {
    ctx.globals.apply_env(ctx.err)?;
    let printer = ctx.globals.printer()?;
    let tls = ctx.globals.tls()?;
    ctx.globals.check_auth()?;
    let endpoints = target_endpoints(ctx)?;
    let timeout = ctx.globals.args.command_timeout;
    let style = LogStyle::Production(Some("client"));
    let checks: Vec<ConnectionSettings> = endpoints
        .into_iter()
        .map(|ep| ctx.globals.connection(vec![ep], tls.clone(), style.clone()))
        .collect();
    let list = ctx.block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for settings in checks {
            set.spawn(check_health(settings, timeout));
        }
        let mut list = Vec::new();
        while let Some(done) = set.join_next().await {
            if let Ok(h) = done {
                list.push(h);
            }
        }
        list
    })?;
    let unhealthy = list.iter().any(|h| !h.error.is_empty());
    printer.endpoint_health(&mut ctx.sink(), &list)?;
    if unhealthy {
        return Err(CtlError::error("unhealthy cluster"));
    }
    Ok(())
}

pub fn status(ctx: &mut Ctx<'_>) -> Result<(), CtlError> {
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let client = Client::new(settings);
    let timeout = ctx.globals.args.command_timeout;
    let mut list = Vec::new();
    let mut failed = false;
    for ep in target_endpoints(ctx)? {
        let mut one = client.for_endpoint(&ep);
        match ctx.block_on(one.status(timeout))? {
            Ok(resp) => list.push(EpStatus { ep, resp }),
            Err(e) => {
                failed = true;
                let _ = ctx.out.flush();
                let _ = writeln!(ctx.err, "Failed to get the status of endpoint {ep} ({e})");
            }
        }
    }
    printer.endpoint_status(&mut ctx.sink(), &list)?;
    if failed {
        return Err(CtlError::Silent(crate::error::exit::ERROR));
    }
    Ok(())
}

pub fn hashkv(ctx: &mut Ctx<'_>, a: &HashkvArgs) -> Result<(), CtlError> {
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let client = Client::new(settings);
    let timeout = ctx.globals.args.command_timeout;
    let mut list = Vec::new();
    let mut last_error = None;
    for ep in target_endpoints(ctx)? {
        let mut one = client.for_endpoint(&ep);
        match ctx.block_on(one.hash_kv(timeout, a.rev))? {
            Ok(resp) => list.push(EpHashKv { ep, resp }),
            Err(e) => {
                let _ = ctx.out.flush();
                let _ = writeln!(ctx.err, "Failed to get the hash of endpoint {ep} ({e})");
                last_error = Some(e);
            }
        }
    }
    printer.endpoint_hashkv(&mut ctx.sink(), &list)?;
    match last_error {
        Some(e) => Err(CtlError::error(e.message)),
        None => Ok(()),
    }
}
