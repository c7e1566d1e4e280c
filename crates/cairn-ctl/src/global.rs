//! The global flags once parsed: filling unset ones from `ETCDCTL_*`
//! environment variables (with etcd's warnings for unknown variables and
//! its fatal error for variables shadowed by flags), `--debug`'s dump, the
//! output format, and the connection settings (endpoints, timeouts, TLS).
//! Features cairnctl does not have yet (auth, DNS discovery, skipping TLS
//! verification) are refused here with a clear error.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::cli::GlobalArgs;
use crate::client::ConnectionSettings;
use crate::error::CtlError;
use crate::golang::{self, GoDuration};
use crate::insecure_tls::InsecureTlsConnector;
use crate::printer::{Format, Printer};
use crate::zaplog::{self, Field, LogStyle};

/// The root's persistent flags, which every command inherits, by name.
pub const GLOBAL_FLAGS: [&str; 18] = [
    "cacert",
    "cert",
    "command-timeout",
    "debug",
    "dial-timeout",
    "discovery-srv",
    "discovery-srv-name",
    "endpoints",
    "hex",
    "insecure-discovery",
    "insecure-skip-tls-verify",
    "insecure-transport",
    "keepalive-time",
    "keepalive-timeout",
    "key",
    "password",
    "user",
    "write-out",
];

/// Global flag values plus where they came from.
#[derive(Clone, Debug)]
pub struct Globals {
    pub args: GlobalArgs,
    /// `endpoint --cluster`, for the endpoint commands (which inherit it).
    pub cluster: Option<bool>,
    /// Names of the flags given on the command line.
    pub explicit: HashSet<String>,
    /// Whether the command is `watch`, whose `ETCDCTL_WATCH_KEY` and
    /// `ETCDCTL_WATCH_RANGE_END` are not unknown variables.
    pub watch: bool,
}

/// The environment variable etcd reads for a flag.
fn env_key(flag: &str) -> String {
    format!("ETCDCTL_{}", flag.replace('-', "_").to_uppercase())
}

impl Globals {
    fn inherited(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = GLOBAL_FLAGS.to_vec();
        if self.cluster.is_some() {
            names.push("cluster");
        }
        if self.watch {
            // etcdctl registers these as flags that discard their value.
            names.extend(["watch-key", "watch-range-end"]);
        }
        names.sort_unstable();
        names
    }

    /// Sets flag `name` from its textual form (as pflag's `Set` would).
    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let a = &mut self.args;
        let dur = |v: &str| golang::parse_duration(v);
        match name {
            "cacert" => a.cacert = value.to_string(),
            "cert" => a.cert = value.to_string(),
            "key" => a.key = value.to_string(),
            "user" => a.user = value.to_string(),
            "password" => a.password = value.to_string(),
            "discovery-srv" => a.discovery_srv = value.to_string(),
            "discovery-srv-name" => a.discovery_srv_name = value.to_string(),
            "write-out" => a.write_out = value.to_string(),
            "command-timeout" => a.command_timeout = dur(value)?,
            "dial-timeout" => a.dial_timeout = dur(value)?,
            "keepalive-time" => a.keepalive_time = dur(value)?,
            "keepalive-timeout" => a.keepalive_timeout = dur(value)?,
            "debug" => a.debug = golang::parse_bool(value)?,
            "hex" => a.hex = golang::parse_bool(value)?,
            "insecure-discovery" => a.insecure_discovery = golang::parse_bool(value)?,
            "insecure-skip-tls-verify" => a.insecure_skip_tls_verify = golang::parse_bool(value)?,
            "insecure-transport" => a.insecure_transport = golang::parse_bool(value)?,
            "endpoints" => a.endpoints = value.split(',').map(str::to_string).collect(),
            "cluster" => self.cluster = Some(golang::parse_bool(value)?),
            "watch-key" | "watch-range-end" => {}
            _ => return Err(format!("no such flag -{name}")),
        }
        Ok(())
    }

    /// pflag's `Value.String()` of flag `name`.
    fn value_string(&self, name: &str) -> String {
        let a = &self.args;
        let d = |v: GoDuration| v.to_string();
        match name {
            "cacert" => a.cacert.clone(),
            "cert" => a.cert.clone(),
            "key" => a.key.clone(),
            "user" => a.user.clone(),
            "password" => a.password.clone(),
            "discovery-srv" => a.discovery_srv.clone(),
            "discovery-srv-name" => a.discovery_srv_name.clone(),
            "write-out" => a.write_out.clone(),
            "command-timeout" => d(a.command_timeout),
            "dial-timeout" => d(a.dial_timeout),
            "keepalive-time" => d(a.keepalive_time),
            "keepalive-timeout" => d(a.keepalive_timeout),
            "debug" => a.debug.to_string(),
            "hex" => a.hex.to_string(),
            "insecure-discovery" => a.insecure_discovery.to_string(),
            "insecure-skip-tls-verify" => a.insecure_skip_tls_verify.to_string(),
            "insecure-transport" => a.insecure_transport.to_string(),
            "endpoints" => format!("[{}]", a.endpoints.join(",")),
            "cluster" => self.cluster.unwrap_or(false).to_string(),
            _ => String::new(),
        }
    }

    /// Fills flags not given on the command line from `ETCDCTL_*` variables,
    /// warning about unknown ones and failing when a variable is shadowed by
    /// a flag (etcd's `SetPflagsFromEnv`). Bad values are ignored, as there.
    pub fn apply_env(&mut self, stderr: &mut dyn Write) -> Result<(), CtlError> {
        self.apply_env_from(std::env::vars_os().collect(), stderr)
    }

    fn apply_env_from(
        &mut self,
        environ: Vec<(OsString, OsString)>,
        stderr: &mut dyn Write,
    ) -> Result<(), CtlError> {
        let lookup: HashMap<&[u8], &[u8]> = environ
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        let mut already_set = HashSet::new();
        let mut used = HashSet::new();
        for name in self.inherited() {
            let key = env_key(name);
            if self.explicit.contains(name) {
                already_set.insert(key);
                continue;
            }
            let Some(value) = lookup.get(key.as_bytes()) else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            used.insert(key);
            let _ = self.set(name, &String::from_utf8_lossy(value));
        }
        let style = LogStyle::Production(None);
        for (k, v) in &environ {
            let key = String::from_utf8_lossy(k.as_bytes()).into_owned();
            if used.contains(&key) {
                continue;
            }
            if already_set.contains(&key) {
                zaplog::log(
                    stderr,
                    &style,
                    "fatal",
                    "flags/flag.go:85",
                    "conflicting environment variable is shadowed by corresponding command-line flag (either unset environment variable or disable flag))",
                    &[("environment-variable", Field::Str(&key))],
                );
                return Err(CtlError::Silent(crate::error::exit::ERROR));
            }
            if key.starts_with("ETCDCTL_") {
                let entry = format!("{key}={}", String::from_utf8_lossy(v.as_bytes()));
                zaplog::log(
                    stderr,
                    &style,
                    "warn",
                    "flags/flag.go:93",
                    "unrecognized environment variable",
                    &[("environment-variable", Field::Str(&entry))],
                );
            }
        }
        Ok(())
    }

    /// `--debug`: every inherited flag as the variable that would set it.
    pub fn debug_dump(&self, stderr: &mut dyn Write) {
        if self.args.debug {
            for name in self.inherited() {
                let _ = writeln!(stderr, "{}={}", env_key(name), self.value_string(name));
            }
        }
    }

    /// The output printer (`initDisplayFromCmd`).
    pub fn printer(&self) -> Result<Printer, CtlError> {
        match Format::parse(&self.args.write_out) {
            Some(format) => Ok(Printer::new(format, self.args.hex)),
            None => Err(CtlError::bad_feature("unsupported output format")),
        }
    }

    /// The endpoints, spaces trimmed (`endpointsFromCmd`).
    pub fn endpoints(&self) -> Result<Vec<String>, CtlError> {
        if !self.args.discovery_srv.is_empty() {
            return Err(CtlError::error(
                "DNS discovery (--discovery-srv) is not supported by cairnctl yet",
            ));
        }
        Ok(self
            .args
            .endpoints
            .iter()
            .map(|e| e.trim().to_string())
            .collect())
    }

    /// Validates the TLS flags (`keyAndCertFromCmd`) and loads the files.
    pub fn tls(&self) -> Result<Option<ClientTlsConfig>, CtlError> {
        let a = &self.args;
        for (name, value) in [("cert", &a.cert), ("key", &a.key), ("cacert", &a.cacert)] {
            if value.is_empty() && self.explicit.contains(name) {
                return Err(CtlError::bad_args(format!(
                    "empty string is passed to --{name} option"
                )));
            }
        }
        let wants_tls = !a.cert.is_empty() || !a.key.is_empty() || !a.cacert.is_empty();
        if !wants_tls && a.insecure_transport {
            return Ok(None);
        }
        let read = |path: &str| {
            std::fs::read(path).map_err(|e| {
                let reason = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => e.to_string(),
                };
                CtlError::bad_args(format!("open {path}: {reason}"))
            })
        };
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if !a.cacert.is_empty() {
            tls = tls.ca_certificate(Certificate::from_pem(read(&a.cacert)?));
        }
        match (a.cert.is_empty(), a.key.is_empty()) {
            (false, false) => {
                tls = tls.identity(Identity::from_pem(read(&a.cert)?, read(&a.key)?));
            }
            (true, true) => {}
            _ => {
                return Err(CtlError::bad_args(format!(
                    "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                    a.key, a.cert
                )))
            }
        }
        Ok(Some(tls))
    }

    /// Refuses `--user` until cairnctl supports authentication.
    pub fn check_auth(&self) -> Result<(), CtlError> {
        if self.args.user.is_empty() {
            return Ok(());
        }
        Err(CtlError::error(
            "authentication (--user/--password) is not supported by cairnctl yet",
        ))
    }

    /// Everything `mustClientFromCmd` does before dialing: environment,
    /// debug dump, endpoints, TLS, auth and the printer.
    pub fn client_config(
        &mut self,
        stderr: &mut dyn Write,
    ) -> Result<(ConnectionSettings, Printer), CtlError> {
        self.apply_env(stderr)?;
        self.debug_dump(stderr);
        let endpoints = self.endpoints()?;
        let tls = self.tls()?;
        self.check_auth()?;
        let printer = self.printer()?;
        Ok((
            self.connection(endpoints, tls, LogStyle::EtcdClient),
            printer,
        ))
    }

    /// Connection settings for `endpoints`.
    pub fn connection(
        &self,
        endpoints: Vec<String>,
        tls: Option<ClientTlsConfig>,
        log_style: LogStyle,
    ) -> ConnectionSettings {
        let insecure_tls = if self.args.insecure_skip_tls_verify {
            let a = &self.args;
            let files = (!a.cert.is_empty() && !a.key.is_empty())
                .then(|| (std::fs::read(&a.cert), std::fs::read(&a.key)));
            match files {
                Some((Ok(cert), Ok(key))) => InsecureTlsConnector::new(Some((&cert, &key))).ok(),
                _ => InsecureTlsConnector::new(None).ok(),
            }
        } else {
            None
        };
        ConnectionSettings {
            insecure_tls,
            endpoints,
            dial_timeout: self.args.dial_timeout,
            keepalive_time: self.args.keepalive_time,
            keepalive_timeout: self.args.keepalive_timeout,
            tls,
            log_style,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn globals(args: &[&str]) -> Globals {
        let cli = crate::cli::Cli::parse_from(args);
        Globals {
            args: cli.global,
            cluster: None,
            explicit: HashSet::new(),
            watch: false,
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn env_fills_unset_flags() {
        let mut g = globals(&["etcdctl"]);
        let mut err = Vec::new();
        g.apply_env_from(
            env(&[
                ("ETCDCTL_ENDPOINTS", "a:1,b:2"),
                ("ETCDCTL_WRITE_OUT", "json"),
                ("ETCDCTL_DIAL_TIMEOUT", "bogus"),
            ]),
            &mut err,
        )
        .unwrap();
        assert_eq!(g.args.endpoints, ["a:1", "b:2"]);
        assert_eq!(g.args.write_out, "json");
        assert_eq!(g.args.dial_timeout, GoDuration(2_000_000_000));
        assert!(err.is_empty());
    }

    #[test]
    fn env_warns_and_refuses_shadowing() {
        let mut g = globals(&["etcdctl"]);
        let mut err = Vec::new();
        g.apply_env_from(env(&[("ETCDCTL_FOO", "1")]), &mut err)
            .unwrap();
        let line = String::from_utf8(err).unwrap();
        assert!(line.contains("\"msg\":\"unrecognized environment variable\",\"environment-variable\":\"ETCDCTL_FOO=1\""), "{line}");

        let mut g = globals(&["etcdctl"]);
        g.explicit.insert("endpoints".into());
        let mut err = Vec::new();
        let r = g.apply_env_from(env(&[("ETCDCTL_ENDPOINTS", "x")]), &mut err);
        assert_eq!(r, Err(CtlError::Silent(1)));
        assert!(String::from_utf8(err)
            .unwrap()
            .contains("\"level\":\"fatal\""));
    }

    #[test]
    fn debug_dump_lists_flags() {
        let mut g = globals(&["etcdctl", "--debug"]);
        g.cluster = Some(false);
        let mut err = Vec::new();
        g.debug_dump(&mut err);
        let text = String::from_utf8(err).unwrap();
        assert!(text.starts_with(
            "ETCDCTL_CACERT=\nETCDCTL_CERT=\nETCDCTL_CLUSTER=false\nETCDCTL_COMMAND_TIMEOUT=5s\n"
        ));
        assert!(text.contains("ETCDCTL_ENDPOINTS=[127.0.0.1:2379]\n"));
    }
}
