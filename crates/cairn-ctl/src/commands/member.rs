//! `member add|list|promote|remove|update`: cluster membership.

use cairn_proto::etcdserverpb::{MemberAddRequest, MemberUpdateRequest};

use super::{arg_bytes, Ctx};
use crate::cli::{MemberAddArgs, MemberUpdateArgs, PlainArgs};
use crate::client::Client;
use crate::error::CtlError;
use crate::golang::quote;
use crate::printer::{Format, MemberChange};

pub fn list(ctx: &mut Ctx<'_>) -> Result<(), CtlError> {
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let resp = ctx
        .block_on(client.member_list(timeout))?
        .map_err(|e| CtlError::error(e.message))?;
    printer.member_list(&mut ctx.sink(), &resp)
}

/// The single hex member ID argument of remove/update/promote.
fn member_id(args: &[Vec<u8>]) -> Result<u64, CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args("member ID is not provided"));
    }
    crate::golang::parse_uint(&String::from_utf8_lossy(&args[0]), 16)
        .map_err(|e| CtlError::bad_args(format!("bad member ID arg ({e}), expecting ID in Hex")))
}

/// etcdctl checks peer URLs before it connects (etcd's `types.NewURLs`):
/// http(s) URLs need `host:port` and no path.
fn check_peer_urls(urls: &[String]) -> Result<(), CtlError> {
    for original in urls {
        let u = original.trim();
        if let Some(bad) = bad_escape(u) {
            return Err(CtlError::error(format!(
                "parse {u:?}: invalid URL escape {bad:?}"
            )));
        }
        let scheme_end = u.find("://");
        let scheme = scheme_end.map(|i| &u[..i]).unwrap_or("");
        match scheme {
            "http" | "https" => {
                let rest = &u[scheme.len() + 3..];
                let (authority, path) = match rest.find(['/', '?', '#']) {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, ""),
                };
                let host = authority.rsplit('@').next().unwrap_or(authority);
                if !has_host_port(host) {
                    return Err(CtlError::error(format!(
                        "URL address does not have the form \"host:port\": {u}"
                    )));
                }
                if path.starts_with('/') {
                    return Err(CtlError::error(format!("URL must not contain a path: {u}")));
                }
            }
            "unix" | "unixs" => {}
            _ => {
                return Err(CtlError::error(format!(
                    "URL scheme must be http, https, unix, or unixs: {u}"
                )))
            }
        }
    }
    Ok(())
}

/// Go's `net.SplitHostPort` succeeds: `host:port` or `[v6]:port`.
fn has_host_port(hostport: &str) -> bool {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest
            .split_once(']')
            .is_some_and(|(_, port)| port.starts_with(':') && !port[1..].contains(':'));
    }
    matches!(hostport.split_once(':'), Some((_, port)) if !port.contains(':'))
}

/// The first `%` escape that is not two hex digits, as Go's URL parser reports it.
fn bad_escape(u: &str) -> Option<String> {
    let bytes = u.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.len() >= i + 3
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !ok {
                return Some(u[i..u.len().min(i + 3)].to_string());
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

pub fn add(ctx: &mut Ctx<'_>, a: &MemberAddArgs) -> Result<(), CtlError> {
    let args = arg_bytes(&a.args);
    let Some(name) = args.first() else {
        return Err(CtlError::bad_args("member name not provided"));
    };
    if args.len() > 1 {
        let mut message = String::from("too many arguments");
        for arg in &args {
            let text = String::from_utf8_lossy(arg);
            if text.to_lowercase().starts_with("http") {
                message.push_str(&format!(", did you mean --peer-urls={text}"));
            }
        }
        return Err(CtlError::bad_args(message));
    }
    if a.peer_urls.is_empty() {
        return Err(CtlError::bad_args("member peer urls not provided"));
    }
    let urls: Vec<String> = a.peer_urls.split(',').map(str::to_string).collect();
    check_peer_urls(&urls)?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let req = MemberAddRequest {
        peer_ur_ls: urls,
        is_learner: a.learner,
    };
    let resp = ctx
        .block_on(client.member_add(timeout, req))?
        .map_err(|e| CtlError::error(e.message))?;
    printer.member_change(&mut ctx.sink(), &MemberChange::Added(&resp))?;
    if printer.format == Format::Simple {
        let new_id = resp.member.as_ref().map_or(0, |m| m.id);
        let mut conf = Vec::new();
        for m in &resp.members {
            for url in &m.peer_ur_ls {
                let member_name = if m.id == new_id {
                    String::from_utf8_lossy(name).into_owned()
                } else {
                    m.name.clone()
                };
                conf.push(format!("{member_name}={url}"));
            }
        }
        let out = &mut *ctx.out;
        let _ = writeln!(out);
        let _ = writeln!(out, "ETCD_NAME={}", quote(name));
        let _ = writeln!(
            out,
            "ETCD_INITIAL_CLUSTER={}",
            quote(conf.join(",").as_bytes())
        );
        let _ = writeln!(
            out,
            "ETCD_INITIAL_ADVERTISE_PEER_URLS={}",
            quote(a.peer_urls.as_bytes())
        );
        let _ = writeln!(out, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"");
    }
    Ok(())
}

pub fn remove(ctx: &mut Ctx<'_>, a: &PlainArgs) -> Result<(), CtlError> {
    let id = member_id(&arg_bytes(&a.args))?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let resp = ctx
        .block_on(client.member_remove(timeout, id))?
        .map_err(|e| CtlError::error(e.message))?;
    printer.member_change(&mut ctx.sink(), &MemberChange::Removed(id, &resp))
}

pub fn update(ctx: &mut Ctx<'_>, a: &MemberUpdateArgs) -> Result<(), CtlError> {
    let id = member_id(&arg_bytes(&a.args))?;
    if a.peer_urls.is_empty() {
        return Err(CtlError::bad_args("member peer urls not provided"));
    }
    let urls: Vec<String> = a.peer_urls.split(',').map(str::to_string).collect();
    check_peer_urls(&urls)?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let req = MemberUpdateRequest {
        id,
        peer_ur_ls: urls,
    };
    let resp = ctx
        .block_on(client.member_update(timeout, req))?
        .map_err(|e| CtlError::error(e.message))?;
    printer.member_change(&mut ctx.sink(), &MemberChange::Updated(id, &resp))
}

pub fn promote(ctx: &mut Ctx<'_>, a: &PlainArgs) -> Result<(), CtlError> {
    let id = member_id(&arg_bytes(&a.args))?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let resp = ctx
        .block_on(client.member_promote(timeout, id))?
        .map_err(|e| CtlError::error(e.message))?;
    printer.member_change(&mut ctx.sink(), &MemberChange::Promoted(id, &resp))
}
