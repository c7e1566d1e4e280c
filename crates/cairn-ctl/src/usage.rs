//! etcdctl's help text and command-line error reporting (cobra + pflag as
//! etcdctl 3.5.1 configures them): the NAME/USAGE/COMMANDS/OPTIONS layout
//! rendered from the clap tree in `cli.rs`, pflag's flag error messages
//! (`unknown flag: --x`, `invalid argument "v" for "--f" flag: ...`),
//! cobra's `unknown command` with suggestions, and their exit codes.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

use crate::tabwriter::TabWriter;

const VERSION: &str = "3.5.1";
const API_VERSION: &str = "3.5";

/// Applies the parser settings cobra/pflag imply to every (sub)command.
pub fn prepare(command: Command) -> Command {
    let mut command = command
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .disable_version_flag(true)
        .infer_subcommands(true)
        .args_override_self(true);
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, prepare);
    }
    command
}

/// The chain of commands named by `path`, starting at the root.
fn chain<'a>(root: &'a Command, path: &[String]) -> Vec<&'a Command> {
    let mut cmds = vec![root];
    let mut cur = root;
    for name in path {
        match cur.find_subcommand(name) {
            Some(sub) => {
                cmds.push(sub);
                cur = sub;
            }
            None => break,
        }
    }
    cmds
}

/// A command is runnable unless it only groups subcommands.
fn runnable(cmd: &Command) -> bool {
    !cmd.has_subcommands()
}

fn flag_args(cmd: &Command, globals_only: bool) -> Vec<&Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .filter(|a| !globals_only || a.is_global_set())
        .collect()
}

fn flag_line(arg: &Arg) -> (String, String) {
    let long = arg.get_long().unwrap_or_default();
    let kind = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|s| s.as_str())
        .unwrap_or("string");
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let default = match kind {
        "string" => crate::golang::quote(defaults.join(",").as_bytes()),
        "stringSlice" => format!("[{}]", defaults.join(",")),
        _ => defaults.join(","),
    };
    let mut line = match arg.get_short() {
        Some(s) => format!("  -{s}, --{long}"),
        None => format!("      --{long}"),
    };
    if kind == "bool" {
        line.push_str(&format!("[={default}]"));
    } else {
        line.push_str(&format!("={default}"));
    }
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    (long.to_string(), format!("{line}\t{help}\n"))
}

fn help_flag_line(name: &str) -> (String, String) {
    (
        "help".to_string(),
        format!("  -h, --help[=false]\thelp for {name}\n"),
    )
}

fn flag_block(mut lines: Vec<(String, String)>) -> String {
    lines.sort();
    lines.into_iter().map(|(_, l)| l).collect()
}

/// Runnable descendants, depth first, sorted by name, with their paths
/// relative to `cmd`.
fn descendants(cmd: &Command, prefix: &str, out: &mut Vec<(String, String)>) {
    let mut subs: Vec<&Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    subs.sort_by_key(|c| c.get_name().to_string());
    for sub in subs {
        let path = if prefix.is_empty() {
            sub.get_name().to_string()
        } else {
            format!("{prefix} {}", sub.get_name())
        };
        if runnable(sub) {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push((path.clone(), about));
        }
        descendants(sub, &path, out);
    }
}

/// The help text etcdctl prints for the command at `path`.
pub fn render(root: &Command, path: &[String]) -> String {
    let cmds = chain(root, path);
    let cmd = *cmds.last().unwrap_or(&root);
    let is_root = cmds.len() == 1;
    let names: Vec<&str> = cmds[1..].iter().map(|c| c.get_name()).collect();
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let mut text = String::from("NAME:\n");
    if is_root {
        text.push_str(&format!("\tetcdctl - {about}\n"));
    } else {
        text.push_str(&format!("\t{} - {about}\n", names.join(" ")));
    }
    let use_line = cmd
        .get_overridden_usage()
        .map(|u| u.to_string())
        .unwrap_or_else(|| cmd.get_name().to_string());
    let full_use = if is_root {
        use_line
    } else {
        let parents: Vec<&str> = std::iter::once("etcdctl")
            .chain(names[..names.len() - 1].iter().copied())
            .collect();
        format!("{} {use_line}", parents.join(" "))
    };
    text.push_str(&format!("\nUSAGE:\n\t{full_use} [flags]\n"));
    if is_root {
        text.push_str(&format!("\nVERSION:\n\t{VERSION}\n"));
    }
    if cmd.has_subcommands() {
        text.push_str(&format!("\nAPI VERSION:\n\t{API_VERSION}\n"));
        text.push_str("\n\nCOMMANDS:\n");
        let mut subs = Vec::new();
        descendants(cmd, "", &mut subs);
        for (name, short) in subs {
            text.push_str(&format!("\t{name}\t{short}\n"));
        }
    }
    if let Some(long) = cmd.get_long_about() {
        text.push_str("\nDESCRIPTION:\n");
        let long = long.to_string();
        for line in long
            .trim_matches(|c| c == '\n' || c == '\t' || c == ' ')
            .split('\n')
        {
            text.push_str(&format!("\t{line}\n"));
        }
    }
    // Local flags: the command's own (persistent ones included) and -h.
    let own_name = if is_root { "etcdctl" } else { cmd.get_name() };
    let mut local: Vec<(String, String)> = flag_args(cmd, false)
        .into_iter()
        .filter(|a| a.get_id() != "help")
        .map(flag_line)
        .collect();
    local.push(help_flag_line(own_name));
    text.push_str("\nOPTIONS:\n");
    text.push_str(&flag_block(local));
    if !is_root {
        let inherited: Vec<(String, String)> = cmds[..cmds.len() - 1]
            .iter()
            .flat_map(|c| flag_args(c, true))
            .filter(|a| a.get_id() != "help")
            .map(flag_line)
            .collect();
        text.push_str("\nGLOBAL OPTIONS:\n");
        text.push_str(&flag_block(inherited));
    }
    text.push('\n');
    TabWriter::etcdctl_usage().format(&text)
}

/// Finds the command path the way cobra's `Find` does: skipping flags (and
/// the values of non-boolean ones), following subcommand names or unique
/// prefixes. Returns the path and the first argument that named no command.
pub fn find_path(root: &Command, args: &[OsString]) -> (Vec<String>, Option<String>) {
    let mut path = Vec::new();
    let mut cur = root;
    let mut i = 0;
    let takes_value = |cmds: &Command, flag: &str| -> bool {
        let found = cmds.get_arguments().find(|a| {
            if let Some(long) = flag.strip_prefix("--") {
                a.get_long() == Some(long)
            } else {
                flag.len() == 2 && a.get_short() == flag.chars().nth(1)
            }
        });
        match found {
            Some(a) => {
                a.get_value_names()
                    .and_then(|v| v.first())
                    .map(|s| s.as_str())
                    != Some("bool")
            }
            None => false,
        }
    };
    while i < args.len() {
        let arg = args[i].to_string_lossy().into_owned();
        if arg == "--" {
            break;
        }
        if arg.starts_with('-') && arg.len() > 1 {
            if !arg.contains('=') && takes_value(&global_view(root, cur), &arg) {
                i += 1;
            }
            i += 1;
            continue;
        }
        let matches: Vec<&Command> = cur
            .get_subcommands()
            .filter(|c| c.get_name() == arg)
            .chain(
                cur.get_subcommands()
                    .filter(|c| c.get_name().starts_with(&arg) && c.get_name() != arg),
            )
            .collect();
        let exact = cur.get_subcommands().find(|c| c.get_name() == arg);
        let next = exact.or(if matches.len() == 1 {
            matches.first().copied()
        } else {
            None
        });
        match next {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                cur = sub;
                i += 1;
            }
            None => return (path, Some(arg)),
        }
    }
    (path, None)
}

/// A command with the global flags of its ancestors attached (for lookups).
fn global_view(root: &Command, cur: &Command) -> Command {
    let mut view = cur.clone();
    for arg in root.get_arguments().filter(|a| a.is_global_set()) {
        if view.get_arguments().all(|a| a.get_id() != arg.get_id()) {
            view = view.arg(arg.clone());
        }
    }
    view
}

/// Levenshtein distance, case-insensitive (cobra's `ld`).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            row[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

/// The order etcdctl registers its commands in (cobra suggests in this order).
const REGISTRATION_ORDER: [&str; 21] = [
    "get",
    "put",
    "del",
    "txn",
    "compaction",
    "alarm",
    "defrag",
    "endpoint",
    "move-leader",
    "watch",
    "version",
    "lease",
    "member",
    "snapshot",
    "make-mirror",
    "lock",
    "elect",
    "auth",
    "user",
    "role",
    "check",
];

/// cobra's "Did you mean this?" block for an unknown root command.
fn suggestions(root: &Command, typed: &str) -> String {
    let mut names: Vec<&str> = REGISTRATION_ORDER
        .iter()
        .copied()
        .filter(|n| root.find_subcommand(n).is_some())
        .collect();
    for sub in root.get_subcommands() {
        let name = sub.get_name();
        if name != "help" && !names.contains(&name) {
            names.push(name);
        }
    }
    let found: Vec<&str> = names
        .into_iter()
        .filter(|n| distance(typed, n) <= 2 || n.to_lowercase().starts_with(&typed.to_lowercase()))
        .collect();
    if found.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n\nDid you mean this?\n");
    for n in found {
        s.push_str(&format!("\t{n}\n"));
    }
    s
}

/// Output and exit code for a command line that did not parse: stderr
/// text, then stdout text, then more stderr text (etcdctl interleaves them).
pub struct ParseFailure {
    pub stderr_before: Vec<u8>,
    pub stdout: Vec<u8>,
    pub stderr_after: Vec<u8>,
    pub code: i32,
}

fn arg_long_name(rendered: &str) -> String {
    // clap renders arguments as "--name <type>" or "-x <type>".
    rendered
        .split([' ', '=', '['])
        .next()
        .unwrap_or_default()
        .trim_start_matches('-')
        .to_string()
}

fn context_str(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        other => Some(other.to_string()),
    }
}

/// What the user typed for a short flag `-c`, e.g. `-c=1` or `-ic`.
fn typed_short(args: &[OsString], c: char) -> Option<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .find(|a| {
            !a.starts_with("--")
                && a.starts_with('-')
                && a[1..].split('=').next().is_some_and(|s| s.contains(c))
        })
}

/// pflag's message for a clap error, if it is a flag error.
fn flag_error_message(
    root: &Command,
    path: &[String],
    args: &[OsString],
    err: &clap::Error,
) -> Option<String> {
    let cmds = chain(root, path);
    let find_arg = |long: &str| -> Option<Arg> {
        cmds.iter()
            .rev()
            .flat_map(|c| c.get_arguments())
            .find(|a| a.get_long() == Some(long))
            .cloned()
    };
    let display_name = |arg: &Arg| match arg.get_short() {
        Some(s) => format!("-{s}, --{}", arg.get_long().unwrap_or_default()),
        None => format!("--{}", arg.get_long().unwrap_or_default()),
    };
    match err.kind() {
        ErrorKind::UnknownArgument => {
            let invalid = context_str(err, ContextKind::InvalidArg)?;
            if let Some(long) = invalid.strip_prefix("--") {
                let name = long.split('=').next().unwrap_or_default();
                Some(format!("unknown flag: --{name}"))
            } else if let Some(short) = invalid.strip_prefix('-') {
                let c = short.chars().next()?;
                let typed = typed_short(args, c).unwrap_or_else(|| invalid.clone());
                Some(format!("unknown shorthand flag: '{c}' in {typed}"))
            } else {
                None
            }
        }
        ErrorKind::ValueValidation => {
            let arg_text = context_str(err, ContextKind::InvalidArg)?;
            let value = context_str(err, ContextKind::InvalidValue).unwrap_or_default();
            let arg = find_arg(&arg_long_name(&arg_text))?;
            let source = std::error::Error::source(err)
                .map(|e| e.to_string())
                .unwrap_or_default();
            Some(format!(
                "invalid argument {} for {} flag: {source}",
                crate::golang::quote(value.as_bytes()),
                crate::golang::quote(display_name(&arg).as_bytes())
            ))
        }
        ErrorKind::InvalidValue
        | ErrorKind::NoEquals
        | ErrorKind::TooFewValues
        | ErrorKind::WrongNumberOfValues => {
            let arg_text = context_str(err, ContextKind::InvalidArg)?;
            let arg = find_arg(&arg_long_name(&arg_text))?;
            let long = arg.get_long().unwrap_or_default();
            let used_short = arg.get_short().filter(|&s| {
                !args
                    .iter()
                    .any(|a| a.as_bytes() == format!("--{long}").as_bytes())
                    && typed_short(args, s).is_some()
            });
            Some(match used_short {
                Some(s) => format!("flag needs an argument: '{s}' in -{s}"),
                None => format!("flag needs an argument: --{long}"),
            })
        }
        _ => None,
    }
}

/// pflag's message for a flag error in `args` of the command at `path` (for
/// command lines read at run time, such as `watch -i`'s).
pub fn flag_error(root: &Command, path: &[String], args: &[OsString], err: &clap::Error) -> String {
    flag_error_message(root, path, args, err).unwrap_or_else(|| {
        err.to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string()
    })
}

/// Turns a clap parse error into etcdctl's output: usage on stdout and the
/// error twice on stderr for flag errors, cobra's message for unknown
/// commands, plain usage for unknown subcommands of a command group.
pub fn parse_failure(root: &Command, args: &[OsString], err: &clap::Error) -> ParseFailure {
    let rest = args.get(1..).unwrap_or_default();
    let (path, unknown) = find_path(root, rest);
    if err.kind() == ErrorKind::InvalidSubcommand
        || (err.kind() == ErrorKind::UnknownArgument && unknown.is_some() && path.is_empty())
    {
        let typed = unknown.unwrap_or_default();
        if path.is_empty() {
            let message = format!(
                "unknown command {} for \"etcdctl\"{}",
                crate::golang::quote(typed.as_bytes()),
                suggestions(root, &typed)
            );
            return ParseFailure {
                stderr_before: format!(
                    "Error: {message}\nRun 'etcdctl --help' for usage.\nError: {message}\n"
                )
                .into_bytes(),
                stdout: Vec::new(),
                stderr_after: Vec::new(),
                code: 1,
            };
        }
        // cobra shows the group's help for an unknown subcommand.
        return ParseFailure {
            stderr_before: Vec::new(),
            stdout: render(root, &path).into_bytes(),
            stderr_after: Vec::new(),
            code: 0,
        };
    }
    let message = flag_error_message(root, &path, rest, err).unwrap_or_else(|| {
        err.to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string()
    });
    ParseFailure {
        stderr_before: format!("Error: {message}\n").into_bytes(),
        stdout: render(root, &path).into_bytes(),
        stderr_after: format!("\nError: {message}\n").into_bytes(),
        code: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn root() -> Command {
        prepare(crate::cli::Cli::command())
    }

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hashkv_help_matches_etcdctl_head() {
        let text = render(&root(), &path(&["endpoint", "hashkv"]));
        let expected = "NAME:\n\
            \tendpoint hashkv - Prints the KV history hash for each endpoint in --endpoints\n\
            \n\
            USAGE:\n\
            \tetcdctl endpoint hashkv [flags]\n\
            \n\
            OPTIONS:\n\
            \x20 -h, --help[=false]\thelp for hashkv\n\
            \x20     --rev=0\t\tmaximum revision to hash (default: all revisions)\n\
            \n\
            GLOBAL OPTIONS:\n\
            \x20     --cacert=\"\"\t\t\t\tverify certificates of TLS-enabled secure servers using this CA bundle\n";
        assert!(text.starts_with(expected), "{text}");
        assert!(text.contains(
            "      --cluster[=false]\t\t\t\tuse all endpoints from the cluster member list\n"
        ));
        assert!(text.ends_with("  -w, --write-out=\"simple\"\t\t\tset the output format (fields, json, protobuf, simple, table)\n\n"));
    }

    #[test]
    fn finds_paths_like_cobra() {
        let r = root();
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            find_path(&r, &os(&["-w", "json", "get", "k"])),
            (path(&["get"]), Some("k".into()))
        );
        assert_eq!(
            find_path(&r, &os(&["endpoint", "st"])),
            (path(&["endpoint", "status"]), None)
        );
        assert_eq!(find_path(&r, &os(&["gett"])), (vec![], Some("gett".into())));
    }

    #[test]
    fn suggests_close_commands() {
        assert_eq!(
            suggestions(&root(), "gett"),
            "\n\nDid you mean this?\n\tget\n"
        );
        assert_eq!(suggestions(&root(), "zzzz"), "");
    }
}
