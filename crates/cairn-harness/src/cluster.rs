//! A cluster of real server processes on loopback: N members of one binary
//! (`cairn` or real `etcd`; both take etcd's flags), each with its own data dir
//! and log file in one temporary directory, plus the fault injection tests need
//! (SIGKILL, SIGTERM, SIGSTOP/SIGCONT, restart).
//!
//! Every process is killed when the [`Cluster`] is dropped, also on panic, and
//! each child asks the kernel to SIGKILL it if the harness process dies first.
//!
//! Opt-in network-namespace mode ([`ClusterSpec::network_namespaces`]): each
//! member runs in its own namespace (`ip netns exec`, which execs, so the
//! child's pid is the server's and signals reach it) with its own address;
//! peer and client URLs use that address, and [`Cluster::network_mut`] gives
//! the nemesis the [`Network`] to cut and shape.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::client::Client;
use crate::error::{HarnessError, Result};
use crate::health::{probe_health_at, HealthProbe};
use crate::netns::Network;
use crate::ports::free_ports;
use crate::tls::TlsFiles;

/// How long [`Cluster::start`] and [`Cluster::restart`] wait for `/health`.
pub const HEALTH_DEADLINE: Duration = Duration::from_secs(60);
/// How long [`Cluster::stop`] waits after SIGTERM before it sends SIGKILL.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// Set this variable to keep a cluster's directory (data and logs) after the test.
pub const KEEP_DIR_ENV: &str = "CAIRN_KEEP_CLUSTER_DIR";

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Server binary (`cairn` or `etcd`).
    pub binary: PathBuf,
    /// Number of members.
    pub size: usize,
    /// Member `i` is named `<name_prefix><i>`.
    pub name_prefix: String,
    /// Flags appended to every member's command line (e.g. `--snapshot-count 100`).
    pub extra_args: Vec<String>,
    /// `--initial-cluster-token`.
    pub token: String,
    /// Client and peer TLS (https URLs, client-cert auth on both) when set.
    pub tls: Option<TlsFiles>,
    /// Environment variables set for every member process.
    pub env: Vec<(String, String)>,
    /// Each member in its own network namespace (see the module comment).
    pub netns: bool,
}

impl ClusterSpec {
    /// `size` members of `binary` named `m0, m1, ...`, no extra flags.
    pub fn new(binary: impl Into<PathBuf>, size: usize) -> ClusterSpec {
        ClusterSpec {
            binary: binary.into(),
            size,
            name_prefix: "m".to_string(),
            extra_args: Vec::new(),
            token: "cairn-test-cluster".to_string(),
            tls: None,
            env: Vec::new(),
            netns: false,
        }
    }

    /// Runs each member in its own network namespace with its own address
    /// (needs root and `ip netns`; starting the cluster fails otherwise).
    pub fn network_namespaces(mut self) -> ClusterSpec {
        self.netns = true;
        self
    }

    /// Sets an environment variable for every member process.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> ClusterSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the member name prefix.
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> ClusterSpec {
        self.name_prefix = prefix.into();
        self
    }

    /// Appends flags to every member's command line.
    pub fn extra_args<I, S>(mut self, args: I) -> ClusterSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs every member with client and peer TLS from `files`.
    pub fn tls(mut self, files: TlsFiles) -> ClusterSpec {
        self.tls = Some(files);
        self
    }

    /// Sets `--initial-cluster-token`.
    pub fn token(mut self, token: impl Into<String>) -> ClusterSpec {
        self.token = token.into();
        self
    }
}

/// One member: its identity, files and (when running) its process.
#[derive(Debug)]
struct Member {
    name: String,
    /// Address the member listens on: `127.0.0.1`, or its namespace's.
    host: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    paused: bool,
    starts: u32,
    /// Set for a member that joins a running cluster (started with
    /// `--initial-cluster-state existing`): its `--initial-cluster`, or every
    /// member's when empty.
    join_initial_cluster: Option<String>,
    /// Flags for this member only, after the spec's.
    own_args: Vec<String>,
}

/// A running (or partly running) cluster. See the module comment.
#[derive(Debug)]
pub struct Cluster {
    spec: ClusterSpec,
    members: Vec<Member>,
    dir: Option<TempDir>,
    dir_path: PathBuf,
    /// Set in network-namespace mode; dropped after the members are killed.
    network: Option<Network>,
}

impl Cluster {
    /// Starts every member and waits until each answers `/health` with
    /// `"health":"true"` (up to [`HEALTH_DEADLINE`]).
    pub async fn start(spec: ClusterSpec) -> Result<Cluster> {
        let mut cluster = Cluster::launch(spec)?;
        cluster.wait_all_healthy(HEALTH_DEADLINE).await?;
        Ok(cluster)
    }

    /// Creates the directory, picks ports and spawns every member without waiting.
    pub fn launch(spec: ClusterSpec) -> Result<Cluster> {
        if spec.size == 0 {
            return Err(HarnessError::Other(
                "a cluster needs at least one member".into(),
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("cairn-cluster-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the cluster's temporary directory", e))?;
        let dir_path = dir.path().to_path_buf();
        let ports = free_ports(spec.size * 2)?;
        let network = if spec.netns {
            Some(Network::create(spec.size)?)
        } else {
            None
        };
        let members = (0..spec.size)
            .map(|i| {
                let name = format!("{}{i}", spec.name_prefix);
                Member {
                    host: network
                        .as_ref()
                        .map_or_else(|| "127.0.0.1".to_string(), |n| n.address(i)),
                    data_dir: dir_path.join(format!("{name}.data")),
                    log_path: dir_path.join(format!("{name}.log")),
                    name,
                    client_port: ports[2 * i],
                    peer_port: ports[2 * i + 1],
                    child: None,
                    paused: false,
                    starts: 0,
                    join_initial_cluster: None,
                    own_args: Vec::new(),
                }
            })
            .collect();
        let mut cluster = Cluster {
            spec,
            members,
            dir: Some(dir),
            dir_path,
            network,
        };
        for i in 0..cluster.members.len() {
            cluster.start_member(i)?;
        }
        Ok(cluster)
    }

    /// The spec this cluster was started from.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the cluster has no members (never true for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The temporary directory holding data dirs and logs.
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    fn member(&self, i: usize) -> Result<&Member> {
        self.members.get(i).ok_or(HarnessError::Member {
            index: i,
            problem: format!("no such member (cluster has {})", self.members.len()),
        })
    }

    fn member_mut(&mut self, i: usize) -> Result<&mut Member> {
        let len = self.members.len();
        self.members.get_mut(i).ok_or(HarnessError::Member {
            index: i,
            problem: format!("no such member (cluster has {len})"),
        })
    }

    /// Member names, in index order.
    pub fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    /// Name of member `i`. Panics if `i` is out of range.
    pub fn name(&self, i: usize) -> &str {
        &self.members[i].name
    }

    /// The network namespaces, in network-namespace mode.
    pub fn network(&self) -> Option<&Network> {
        self.network.as_ref()
    }

    /// The network namespaces, mutable (to cut and shape), in
    /// network-namespace mode.
    pub fn network_mut(&mut self) -> Option<&mut Network> {
        self.network.as_mut()
    }

    /// Address member `i` listens on (`127.0.0.1` unless in network-namespace
    /// mode). Panics if out of range.
    pub fn host(&self, i: usize) -> &str {
        &self.members[i].host
    }

    /// `http://<host>:<client port>` of member `i`. Panics if out of range.
    pub fn endpoint(&self, i: usize) -> String {
        let m = &self.members[i];
        format!("{}://{}:{}", self.scheme(), m.host, m.client_port)
    }

    /// `https` for a TLS cluster, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.spec.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The CLI flags (`--cacert/--cert/--key`) a client needs; empty without TLS.
    pub fn cli_tls_args(&self) -> Vec<String> {
        self.spec
            .tls
            .as_ref()
            .map(TlsFiles::cli_args)
            .unwrap_or_default()
    }

    /// Every member's client URL, in index order.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    /// Every member's client URL, comma-joined (for `--endpoints`).
    pub fn client_endpoints(&self) -> String {
        self.endpoints().join(",")
    }

    /// Client port of member `i`. Panics if out of range.
    pub fn client_port(&self, i: usize) -> u16 {
        self.members[i].client_port
    }

    /// Peer port of member `i`. Panics if out of range.
    pub fn peer_port(&self, i: usize) -> u16 {
        self.members[i].peer_port
    }

    /// `--data-dir` of member `i`. Panics if out of range.
    pub fn data_dir(&self, i: usize) -> &Path {
        &self.members[i].data_dir
    }

    /// Log file (stdout + stderr, appended across restarts) of member `i`.
    pub fn log_path(&self, i: usize) -> &Path {
        &self.members[i].log_path
    }

    /// The whole log of member `i` (lossy UTF-8; empty if unreadable).
    pub fn read_log(&self, i: usize) -> String {
        std::fs::read(self.log_path(i))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// How many times `what` occurs in the logs of all members.
    pub fn count_in_logs(&self, what: &str) -> usize {
        (0..self.len())
            .map(|i| self.read_log(i).matches(what).count())
            .sum()
    }

    /// Member `i`'s log since its most recent start (what the current or last
    /// process printed).
    pub fn log_of_last_start(&self, i: usize) -> String {
        let log = self.read_log(i);
        match log.rfind("=== cairn-harness: start #") {
            Some(at) => log[at..].to_string(),
            None => log,
        }
    }

    /// The last `lines` lines of member `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        tail(&self.read_log(i), lines)
    }

    /// `--initial-cluster` value: `m0=http://127.0.0.1:P0,...`.
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}://{}:{}", m.name, self.scheme(), m.host, m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The full command line (without the binary) member `i` is started with.
    ///
    /// A restart uses the same flags: etcd (and cairn) ignore the
    /// `--initial-cluster*` flags once the data dir exists.
    pub fn member_args(&self, i: usize) -> Vec<String> {
        let m = &self.members[i];
        let client = format!("{}://{}:{}", self.scheme(), m.host, m.client_port);
        let peer = format!("{}://{}:{}", self.scheme(), m.host, m.peer_port);
        let mut args = vec![
            "--name".to_string(),
            m.name.clone(),
            "--data-dir".to_string(),
            m.data_dir.display().to_string(),
            "--listen-client-urls".to_string(),
            client.clone(),
            "--advertise-client-urls".to_string(),
            client,
            "--listen-peer-urls".to_string(),
            peer.clone(),
            "--initial-advertise-peer-urls".to_string(),
            peer,
            "--initial-cluster".to_string(),
            m.join_initial_cluster
                .clone()
                .filter(|ic| !ic.is_empty())
                .unwrap_or_else(|| self.initial_cluster()),
            "--initial-cluster-state".to_string(),
            if m.join_initial_cluster.is_some() {
                "existing"
            } else {
                "new"
            }
            .to_string(),
            "--initial-cluster-token".to_string(),
            self.spec.token.clone(),
        ];
        if let Some(tls) = &self.spec.tls {
            args.extend(tls.server_args());
        }
        args.extend(self.spec.extra_args.iter().cloned());
        args.extend(m.own_args.iter().cloned());
        args
    }

    /// `http://<host>:<peer port>` of member `i`.
    pub fn peer_url(&self, i: usize) -> String {
        let m = &self.members[i];
        format!("{}://{}:{}", self.scheme(), m.host, m.peer_port)
    }

    /// Adds a member that is not started yet: new ports, an empty data dir, and
    /// (once started with [`Cluster::start_member`]) `--initial-cluster-state
    /// existing`. Its `--initial-cluster` lists every member unless
    /// [`Cluster::set_join`] gives the one `member add` printed. Returns its index.
    pub fn add_joining_member(&mut self, name: &str) -> Result<usize> {
        let ports = free_ports(2)?;
        let host = match self.network.as_mut() {
            Some(network) => {
                let i = network.add_member()?;
                network.address(i)
            }
            None => "127.0.0.1".to_string(),
        };
        self.members.push(Member {
            host,
            data_dir: self.dir_path.join(format!("{name}.data")),
            log_path: self.dir_path.join(format!("{name}.log")),
            name: name.to_string(),
            client_port: ports[0],
            peer_port: ports[1],
            child: None,
            paused: false,
            starts: 0,
            join_initial_cluster: Some(String::new()),
            own_args: Vec::new(),
        });
        Ok(self.members.len() - 1)
    }

    /// Member `i` joins a running cluster from its next start on, with this
    /// `--initial-cluster`.
    pub fn set_join(&mut self, i: usize, initial_cluster: String) -> Result<()> {
        self.member_mut(i)?.join_initial_cluster = Some(initial_cluster);
        Ok(())
    }

    /// Flags appended to member `i`'s command line from its next start on.
    pub fn set_member_args(&mut self, i: usize, args: Vec<String>) -> Result<()> {
        self.member_mut(i)?.own_args = args;
        Ok(())
    }

    /// Whether member `i` has a process that has not been reaped.
    pub fn is_running(&self, i: usize) -> bool {
        self.members.get(i).is_some_and(|m| m.child.is_some())
    }

    /// Whether member `i` is SIGSTOPped.
    pub fn is_paused(&self, i: usize) -> bool {
        self.members.get(i).is_some_and(|m| m.paused)
    }

    /// OS process id of member `i`, if running.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members.get(i)?.child.as_ref().map(Child::id)
    }

    /// Spawns member `i`'s process (it must not be running) without waiting.
    pub fn start_member(&mut self, i: usize) -> Result<()> {
        let args = self.member_args(i);
        let binary = self.spec.binary.clone();
        let env = self.spec.env.clone();
        // `ip netns exec` enters the namespace and execs the server: the
        // child's pid stays the server's, so SIGKILL/SIGSTOP reach it.
        let namespace = self.network.as_ref().map(|n| n.namespace(i));
        let member = self.member_mut(i)?;
        if member.child.is_some() {
            return Err(HarnessError::Member {
                index: i,
                problem: "already running".into(),
            });
        }
        member.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log_path)
            .map_err(|e| HarnessError::io(format!("opening {}", member.log_path.display()), e))?;
        let header = format!(
            "=== cairn-harness: start #{} of {}: {} {} ===\n",
            member.starts,
            member.name,
            binary.display(),
            args.join(" ")
        );
        log.write_all(header.as_bytes())
            .map_err(|e| HarnessError::io(format!("writing {}", member.log_path.display()), e))?;
        let stderr = log
            .try_clone()
            .map_err(|e| HarnessError::io("duplicating the log file handle", e))?;
        let mut command = match &namespace {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.as_str()]).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr));
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("ETCD_") || key_text.starts_with("ETCDCTL_") {
                command.env_remove(&key);
            }
        }
        command.envs(env);
        // SAFETY: the closure runs in the forked child before exec and only calls
        // prctl(2), which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                // Die with the harness, even when it is SIGKILLed by a test runner.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| HarnessError::io(format!("spawning {}", binary.display()), e))?;
        member.child = Some(child);
        member.paused = false;
        Ok(())
    }

    /// Polls member `i`'s `/health` until `"health":"true"`, the process exits,
    /// or `deadline` passes.
    pub async fn wait_healthy(&mut self, i: usize, deadline: Duration) -> Result<()> {
        let start = Instant::now();
        let port = self.member(i)?.client_port;
        let host = self.member(i)?.host.clone();
        loop {
            if let Some(status) = self.try_reap(i)? {
                let m = self.member(i)?;
                return Err(HarnessError::ExitedEarly {
                    name: m.name.clone(),
                    status,
                    log: m.log_path.clone(),
                    tail: self.log_tail(i, 40),
                });
            }
            if self.member(i)?.child.is_none() {
                return Err(HarnessError::Member {
                    index: i,
                    problem: "not running; cannot become healthy".into(),
                });
            }
            let last = match &self.spec.tls {
                None => probe_health_at(&host, port, Duration::from_secs(3)).await,
                Some(tls) => self.probe_tls(i, tls).await,
            };
            if last == HealthProbe::Healthy {
                return Ok(());
            }
            if start.elapsed() >= deadline {
                let m = self.member(i)?;
                return Err(HarnessError::NotHealthy {
                    name: m.name.clone(),
                    waited: start.elapsed(),
                    last: last.to_string(),
                    log: m.log_path.clone(),
                    tail: self.log_tail(i, 40),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every running, unpaused member is healthy (one shared deadline).
    pub async fn wait_all_healthy(&mut self, deadline: Duration) -> Result<()> {
        let start = Instant::now();
        for i in 0..self.members.len() {
            if self.members[i].child.is_some() && !self.members[i].paused {
                let left = deadline.saturating_sub(start.elapsed());
                self.wait_healthy(i, left).await?;
            }
        }
        Ok(())
    }

    /// Reaps member `i` if its process has exited; returns the exit status then.
    fn try_reap(&mut self, i: usize) -> Result<Option<ExitStatus>> {
        let member = self.member_mut(i)?;
        let Some(child) = member.child.as_mut() else {
            return Ok(None);
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                member.child = None;
                member.paused = false;
                Ok(Some(status))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(HarnessError::io(format!("waiting for {}", member.name), e)),
        }
    }

    /// Waits up to `timeout` for member `i` to exit by itself; returns its exit
    /// status, or `None` if it is still running.
    pub async fn wait_exit(&mut self, i: usize, timeout: Duration) -> Result<Option<ExitStatus>> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_reap(i)? {
                return Ok(Some(status));
            }
            if self.member(i)?.child.is_none() {
                return Err(HarnessError::Member {
                    index: i,
                    problem: "not running".into(),
                });
            }
            if start.elapsed() >= timeout {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts member `i` on the data dir of a superseded cluster and checks
    /// that it is fenced: it stops by itself within `deadline` with a failure
    /// status and the "superseded" message, and its data dir is left exactly
    /// as it was. Any other outcome is an error carrying the member's log.
    pub async fn restart_expecting_fenced(&mut self, i: usize, deadline: Duration) -> Result<()> {
        let before = crate::files::tree_digest(self.data_dir(i));
        self.start_member(i)?;
        let fail = |cluster: &Cluster, problem: &str| HarnessError::Member {
            index: i,
            problem: format!("{problem}; its log:\n{}", cluster.log_of_last_start(i)),
        };
        match self.wait_exit(i, deadline).await? {
            None => {
                let err = fail(self, &format!("still running after {deadline:?}"));
                self.kill(i)?;
                return Err(err);
            }
            Some(status) if status.success() => {
                return Err(fail(self, "stopped with success, not as a fenced member"));
            }
            Some(_) => {}
        }
        if !self
            .log_of_last_start(i)
            .contains("was superseded by cluster")
        {
            return Err(fail(self, "stopped without the \"superseded\" message"));
        }
        if crate::files::tree_digest(self.data_dir(i)) != before {
            return Err(fail(self, "its data dir changed"));
        }
        Ok(())
    }

    fn signal(&self, i: usize, signal: libc::c_int) -> Result<()> {
        let member = self.member(i)?;
        let Some(child) = member.child.as_ref() else {
            return Err(HarnessError::Member {
                index: i,
                problem: "not running".into(),
            });
        };
        let pid = libc::pid_t::try_from(child.id())
            .map_err(|_| HarnessError::Other(format!("pid {} out of range", child.id())))?;
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own
        // unreaped child, so it cannot have been recycled.
        let rc = unsafe { libc::kill(pid, signal) };
        if rc != 0 {
            return Err(HarnessError::io(
                format!("sending signal {signal} to {}", member.name),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// SIGKILLs member `i` and reaps it.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        let member = self.member_mut(i)?;
        let Some(mut child) = member.child.take() else {
            return Err(HarnessError::Member {
                index: i,
                problem: "not running".into(),
            });
        };
        member.paused = false;
        // Ignore "already exited": a zombie is reaped just below.
        let _ = child.kill();
        child
            .wait()
            .map_err(|e| HarnessError::io(format!("reaping {}", member.name), e))?;
        Ok(())
    }

    /// SIGTERMs member `i` and waits for it to exit (SIGKILL after
    /// [`STOP_DEADLINE`]); returns its exit status.
    pub async fn stop(&mut self, i: usize) -> Result<ExitStatus> {
        self.signal(i, libc::SIGTERM)?;
        if self.member(i)?.paused {
            self.signal(i, libc::SIGCONT)?;
        }
        if let Some(status) = self.wait_exit(i, STOP_DEADLINE).await? {
            return Ok(status);
        }
        let member = self.member_mut(i)?;
        let mut child = member.child.take().ok_or(HarnessError::Member {
            index: i,
            problem: "vanished while stopping".into(),
        })?;
        member.paused = false;
        let _ = child.kill();
        child
            .wait()
            .map_err(|e| HarnessError::io(format!("reaping {}", member.name), e))
    }

    /// Starts member `i` again with the same flags (and data dir) and waits
    /// until it is healthy. A running member is stopped (SIGTERM) first.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        if self.is_running(i) {
            self.stop(i).await?;
        }
        self.start_member(i)?;
        self.wait_healthy(i, HEALTH_DEADLINE).await
    }

    /// SIGSTOPs member `i`.
    pub fn pause(&mut self, i: usize) -> Result<()> {
        self.signal(i, libc::SIGSTOP)?;
        self.member_mut(i)?.paused = true;
        Ok(())
    }

    /// SIGCONTs member `i`.
    pub fn resume(&mut self, i: usize) -> Result<()> {
        self.signal(i, libc::SIGCONT)?;
        self.member_mut(i)?.paused = false;
        Ok(())
    }

    /// Readiness of a TLS member: it answers Status over TLS and knows a leader
    /// (what `/health` says, without an HTTPS client in the harness).
    async fn probe_tls(&self, i: usize, tls: &TlsFiles) -> HealthProbe {
        let config = match tls.client_config() {
            Ok(c) => c,
            Err(e) => return HealthProbe::Unreachable(e.to_string()),
        };
        let endpoint = self.endpoint(i);
        let secs = Duration::from_secs(3);
        match Client::connect_with_tls(&endpoint, secs, secs, Some(config)).await {
            Err(e) => HealthProbe::Unreachable(e.to_string()),
            Ok(mut c) => match c.status().await {
                Ok(s) if s.leader != 0 => HealthProbe::Healthy,
                Ok(_) => HealthProbe::Unhealthy("no leader".into()),
                Err(e) => HealthProbe::Unhealthy(e.to_string()),
            },
        }
    }

    /// A gRPC client for member `i` (connect retried for up to 10 s), over TLS
    /// for a TLS cluster.
    pub async fn client(&self, i: usize) -> Result<Client> {
        self.member(i)?;
        let tls = self
            .spec
            .tls
            .as_ref()
            .map(TlsFiles::client_config)
            .transpose()?;
        Client::connect_with_tls(
            &self.endpoint(i),
            Duration::from_secs(10),
            crate::client::DEFAULT_CALL_TIMEOUT,
            tls,
        )
        .await
    }

    /// `Maintenance.Status` of every running, unpaused member that answers,
    /// as `(index, status)`.
    pub async fn statuses(&self) -> Vec<(usize, cairn_proto::etcdserverpb::StatusResponse)> {
        let mut out = Vec::new();
        for i in 0..self.members.len() {
            if !self.is_running(i) || self.is_paused(i) {
                continue;
            }
            let endpoint = self.endpoint(i);
            let tls = self.spec.tls.as_ref().and_then(|t| t.client_config().ok());
            let Ok(mut client) = Client::connect_with_tls(
                &endpoint,
                Duration::from_secs(1),
                Duration::from_secs(2),
                tls,
            )
            .await
            else {
                continue;
            };
            if let Ok(status) = client.status().await {
                out.push((i, status));
            }
        }
        out
    }

    /// The index of the member that reports itself leader (its Status has
    /// `leader == header.member_id`), if any running member does.
    pub async fn find_leader(&self) -> Option<usize> {
        self.statuses().await.into_iter().find_map(|(i, s)| {
            let me = s.header.as_ref().map(|h| h.member_id)?;
            (me != 0 && s.leader == me).then_some(i)
        })
    }

    /// Polls [`Cluster::find_leader`] until a leader other than `excluding`
    /// is found or `deadline` passes.
    pub async fn wait_for_leader(
        &self,
        excluding: Option<usize>,
        deadline: Duration,
    ) -> Result<usize> {
        let start = Instant::now();
        loop {
            if let Some(i) = self.find_leader().await {
                if Some(i) != excluding {
                    return Ok(i);
                }
            }
            if start.elapsed() >= deadline {
                return Err(HarnessError::Other(format!(
                    "no leader{} after {:?}",
                    excluding
                        .map(|e| format!(" other than member {e}"))
                        .unwrap_or_default(),
                    start.elapsed()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Member IDs by member name, and the cluster ID, as the cluster reports
    /// them (`Cluster.MemberList` through the first reachable member).
    pub async fn identity(&self) -> Result<ClusterIdentity> {
        let mut last = HarnessError::Other("no running member".into());
        for i in 0..self.members.len() {
            if !self.is_running(i) || self.is_paused(i) {
                continue;
            }
            let result = async {
                let mut client = self.client(i).await?;
                client.member_list().await
            }
            .await;
            match result {
                Ok(list) => {
                    let cluster_id = list.header.as_ref().map(|h| h.cluster_id).unwrap_or(0);
                    let member_ids = list
                        .members
                        .iter()
                        .map(|m| (m.name.clone(), m.id))
                        .collect();
                    return Ok(ClusterIdentity {
                        cluster_id,
                        member_ids,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Keeps the cluster directory on disk after drop; returns its path.
    pub fn keep_dir(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        self.dir_path.clone()
    }
}

/// The IDs a cluster chose for itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterIdentity {
    /// Cluster ID.
    pub cluster_id: u64,
    /// Member name → member ID.
    pub member_ids: HashMap<String, u64>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            for m in &self.members {
                let log = std::fs::read(&m.log_path)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                eprintln!(
                    "--- cairn-harness: tail of {} ({}) ---\n{}",
                    m.name,
                    m.log_path.display(),
                    tail(&log, 30)
                );
            }
        }
        if std::env::var_os(KEEP_DIR_ENV).is_some() {
            let path = self.keep_dir();
            eprintln!("cairn-harness: kept cluster directory {}", path.display());
        }
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
