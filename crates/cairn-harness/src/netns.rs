//! Network namespaces for a cluster (opt-in, `ClusterSpec::network_namespaces`):
//! every member runs in its own namespace with its own address, so the
//! network between members can be cut, shaped and healed while the test
//! process keeps reaching every member's client port.
//!
//! Layout, for a cluster tagged `cairn<pid>n<k>` on the private subnet
//! `10.213.<s>.0/24`:
//!
//! ```text
//!   root namespace (test process)          hub namespace `<tag>-hub`
//!   cz<pid>n<k>  10.213.s.254  ──veth──  uplink ─┐
//!                                                br0 (bridge)
//!   member namespace `<tag>-m<i>`                │
//!   eth0         10.213.s.<i+1> ──veth──  m<i> ───┘
//! ```
//!
//! Only the interfaces and namespaces created here carry the subnet, and
//! nothing is routed beyond it. Names carry the owning process id: a new
//! [`Network`] first deletes what dead processes left behind
//! ([`sweep_leftovers`]); [`Network`]'s `Drop` deletes its own, also when a
//! test panics.
//!
//! Faults (all undone by [`Network::heal`]):
//! - [`Network::cut`]: member A can no longer send to member B. It is a
//!   `blackhole` route for B's address inside A's namespace. Measured here
//!   (Linux, iproute2 6.1): A's `connect` to B fails at once with EINVAL
//!   (`prohibit` gives EACCES, `unreachable` EHOSTUNREACH: all three fail the
//!   sender locally), while B's `connect` to A times out, because A's SYN-ACK
//!   is dropped on A's side. TCP needs both directions, so a one-way cut
//!   breaks every connection between A and B, but asymmetrically: A sees
//!   immediate send errors, B sees silence (timeouts), as with a broken link
//!   on one side. A partition is cuts in both directions.
//! - [`Network::shape`]: `tc qdisc netem` delay, jitter and loss on a
//!   member's interface (its traffic to peers and to the test process). A
//!   kernel built without `sch_netem` (as some VM kernels are) refuses that
//!   qdisc; the member's link is then degraded with `tbf` instead (a rate
//!   limit: queueing delay up to the given latency, tail drops beyond it),
//!   and the returned description says so.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{HarnessError, Result};

/// First two octets of every address used here (a private /16; each
/// cluster takes one /24 of it).
const PREFIX: &str = "10.213";

static NEXT_NETWORK: AtomicUsize = AtomicUsize::new(0);

/// One member's interface shaping (`tc netem`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Added one-way delay of every packet the member sends.
    pub delay_ms: u32,
    /// Random variation of the delay (±).
    pub jitter_ms: u32,
    /// Percentage of packets dropped.
    pub loss_percent: f64,
    /// Without `sch_netem`: the `tbf` rate limit used instead (queueing up
    /// to `delay_ms`, drops beyond).
    pub fallback_rate_kbit: u32,
}

/// The namespaces, links and addresses of one cluster. See the module comment.
#[derive(Debug)]
pub struct Network {
    tag: String,
    subnet: u8,
    root_link: String,
    members: usize,
    /// Active cuts `(from, to)`: `from` cannot send to `to`.
    cuts: Vec<(usize, usize)>,
    /// Members whose interface has a netem (or tbf) qdisc.
    shaped: Vec<usize>,
    /// Whether the kernel has `sch_netem` (unknown until first tried).
    netem: Option<bool>,
}

/// Runs `ip`/`tc` with `args`; an error carries the command and its stderr.
fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program).args(args).output().map_err(|e| {
        HarnessError::io(
            format!(
                "running `{program} {}` (is iproute2 installed?)",
                args.join(" ")
            ),
            e,
        )
    })?;
    if !output.status.success() {
        return Err(HarnessError::Network {
            command: format!("{program} {}", args.join(" ")),
            problem: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String> {
    run("ip", args)
}

/// Whether process `pid` exists (in this pid namespace).
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The owning pid in a name made by this module: `cairn<pid>n...` for
/// namespaces, `cz<pid>n...` for root links.
fn owner(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, tail) = rest.split_once('n')?;
    if tail.is_empty() || !tail.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    pid.parse().ok()
}

/// Deletes namespaces and root links this module made for processes that no
/// longer exist. Errors are ignored (another process may sweep the same).
pub fn sweep_leftovers() {
    if let Ok(list) = ip(&["netns", "list"]) {
        for line in list.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if owner(name, "cairn").is_some_and(|pid| !alive(pid)) {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
    if let Ok(links) = ip(&["-o", "link", "show"]) {
        for line in links.lines() {
            // `5: cz123n0@if4: <...>`
            let name = line
                .split(':')
                .nth(1)
                .map(str::trim)
                .and_then(|n| n.split('@').next())
                .unwrap_or("");
            if owner(name, "cz").is_some_and(|pid| !alive(pid)) {
                let _ = ip(&["link", "del", name]);
            }
        }
    }
}

/// A /24 of `10.213.0.0/16` that no interface of the root namespace uses.
fn free_subnet(seed: usize) -> Result<u8> {
    let addrs = ip(&["-4", "-o", "addr", "show"])?;
    let routes = ip(&["-4", "route", "show"])?;
    for step in 0..200 {
        let s = 20 + ((seed + step) % 200) as u8;
        let net = format!("{PREFIX}.{s}.");
        if !addrs.contains(&net) && !routes.contains(&net) {
            return Ok(s);
        }
    }
    Err(HarnessError::Other(format!(
        "no free /24 left in {PREFIX}.0.0/16"
    )))
}

impl Network {
    /// Creates the hub, `members` member namespaces and the root link.
    /// Fails (never skips) without root or a working `ip netns`.
    pub fn create(members: usize) -> Result<Network> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(HarnessError::Other(
                "network-namespace mode needs root (ip netns, veth, tc); run the test as root"
                    .into(),
            ));
        }
        sweep_leftovers();
        let pid = std::process::id();
        let k = NEXT_NETWORK.fetch_add(1, Ordering::SeqCst);
        let tag = format!("cairn{pid}n{k}");
        let subnet = free_subnet(pid as usize * 7 + k)?;
        let mut net = Network {
            root_link: format!("cz{pid}n{k}"),
            tag,
            subnet,
            members: 0,
            cuts: Vec::new(),
            shaped: Vec::new(),
            netem: None,
        };
        // On any error from here on, Drop deletes what exists so far.
        let hub = net.hub();
        ip(&["netns", "add", &hub]).map_err(|e| {
            HarnessError::Other(format!(
                "network-namespace mode: cannot create a namespace ({e}); it needs root and \
                 `ip netns` (iproute2) with a writable /run/netns"
            ))
        })?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        ip(&[
            "link",
            "add",
            &net.root_link,
            "type",
            "veth",
            "peer",
            "name",
            "uplink",
            "netns",
            &hub,
        ])?;
        ip(&["-n", &hub, "link", "set", "uplink", "master", "br0", "up"])?;
        let root_addr = format!("{PREFIX}.{subnet}.254/24");
        ip(&["addr", "add", &root_addr, "dev", &net.root_link])?;
        ip(&["link", "set", &net.root_link, "up"])?;
        for _ in 0..members {
            net.add_member()?;
        }
        Ok(net)
    }

    fn hub(&self) -> String {
        format!("{}-hub", self.tag)
    }

    /// Namespace of member `i`.
    pub fn namespace(&self, i: usize) -> String {
        format!("{}-m{i}", self.tag)
    }

    /// Address of member `i` (no prefix length).
    pub fn address(&self, i: usize) -> String {
        format!("{PREFIX}.{}.{}", self.subnet, i + 1)
    }

    /// Number of member namespaces.
    pub fn len(&self) -> usize {
        self.members
    }

    /// Whether there is no member namespace.
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// Creates the next member's namespace, plugged into the hub; returns its index.
    pub fn add_member(&mut self) -> Result<usize> {
        let i = self.members;
        if i >= 250 {
            return Err(HarnessError::Other(
                "at most 250 members per network".into(),
            ));
        }
        let ns = self.namespace(i);
        let hub = self.hub();
        ip(&["netns", "add", &ns])?;
        self.members += 1;
        let port = format!("m{i}");
        ip(&[
            "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        ip(&["-n", &hub, "link", "set", &port, "master", "br0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        let addr = format!("{}/24", self.address(i));
        ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        Ok(i)
    }

    fn check(&self, i: usize) -> Result<()> {
        if i < self.members {
            Ok(())
        } else {
            Err(HarnessError::Member {
                index: i,
                problem: format!("no such namespace (network has {})", self.members),
            })
        }
    }

    /// Member `from` can no longer send to member `to` (see the module comment).
    pub fn cut(&mut self, from: usize, to: usize) -> Result<()> {
        self.check(from)?;
        self.check(to)?;
        if from == to || self.cuts.contains(&(from, to)) {
            return Ok(());
        }
        let dest = format!("{}/32", self.address(to));
        ip(&[
            "-n",
            &self.namespace(from),
            "route",
            "add",
            "blackhole",
            &dest,
        ])?;
        self.cuts.push((from, to));
        Ok(())
    }

    /// Cuts both directions between every member of `a` and every member of `b`.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) -> Result<()> {
        for &x in a {
            for &y in b {
                self.cut(x, y)?;
                self.cut(y, x)?;
            }
        }
        Ok(())
    }

    /// Adds `tc netem` delay/jitter/loss to member `i`'s interface (or the
    /// `tbf` fallback, see the module comment); returns what was applied.
    pub fn shape(&mut self, i: usize, shape: Shape) -> Result<String> {
        self.check(i)?;
        let ns = self.namespace(i);
        if self.shaped.contains(&i) {
            run(
                "ip",
                &[
                    "netns", "exec", &ns, "tc", "qdisc", "del", "dev", "eth0", "root",
                ],
            )?;
            self.shaped.retain(|&m| m != i);
        }
        let delay = format!("{}ms", shape.delay_ms);
        if self.netem != Some(false) {
            let jitter = format!("{}ms", shape.jitter_ms);
            let loss = format!("{:.1}%", shape.loss_percent);
            let netem = run(
                "ip",
                &[
                    "netns", "exec", &ns, "tc", "qdisc", "add", "dev", "eth0", "root", "netem",
                    "delay", &delay, &jitter, "loss", &loss,
                ],
            );
            match netem {
                Ok(_) => {
                    self.netem = Some(true);
                    self.shaped.push(i);
                    return Ok(format!("netem delay {delay} ±{jitter} loss {loss}"));
                }
                Err(HarnessError::Network { problem, .. })
                    if problem.contains("qdisc kind is unknown") =>
                {
                    self.netem = Some(false);
                }
                Err(e) => return Err(e),
            }
        }
        let rate = format!("{}kbit", shape.fallback_rate_kbit);
        run(
            "ip",
            &[
                "netns", "exec", &ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate",
                &rate, "burst", "32kbit", "latency", &delay,
            ],
        )?;
        self.shaped.push(i);
        Ok(format!(
            "tbf rate {rate} latency {delay} (this kernel has no sch_netem)"
        ))
    }

    /// Active cuts, `(from, to)`.
    pub fn cuts(&self) -> &[(usize, usize)] {
        &self.cuts
    }

    /// Removes every cut and every netem qdisc. Tries everything; returns the
    /// first error.
    pub fn heal(&mut self) -> Result<()> {
        let mut first = None;
        for (from, to) in std::mem::take(&mut self.cuts) {
            let dest = format!("{}/32", self.address(to));
            if let Err(e) = ip(&[
                "-n",
                &self.namespace(from),
                "route",
                "del",
                "blackhole",
                &dest,
            ]) {
                first.get_or_insert(e);
            }
        }
        for i in std::mem::take(&mut self.shaped) {
            let ns = self.namespace(i);
            if let Err(e) = run(
                "ip",
                &[
                    "netns", "exec", &ns, "tc", "qdisc", "del", "dev", "eth0", "root",
                ],
            ) {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Namespace deletion is asynchronous in the kernel: delete the root
        // end of the client link explicitly so it is gone when this returns.
        let _ = ip(&["link", "del", &self.root_link]);
        for i in 0..self.members {
            let _ = ip(&["netns", "del", &self.namespace(i)]);
        }
        let _ = ip(&["netns", "del", &self.hub()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_parsed_from_names() {
        assert_eq!(owner("cairn1234n0-hub", "cairn"), Some(1234));
        assert_eq!(owner("cairn1234n12-m3", "cairn"), Some(1234));
        assert_eq!(owner("cz99n3", "cz"), Some(99));
        assert_eq!(owner("cairn-other", "cairn"), None);
        assert_eq!(owner("czech", "cz"), None);
        assert_eq!(owner("cz12n", "cz"), None);
    }

    /// Needs root and `ip netns` (as the fault tests do): a leftover of a
    /// process that no longer exists is swept; the test's own survive until
    /// drop, which removes them.
    #[test]
    fn leftovers_of_dead_processes_are_swept_and_drop_cleans_up() {
        // Above any pid_max: never a live process.
        let dead = "cairn999999999n0-hub";
        ip(&["netns", "add", dead]).expect("ip netns add (needs root)");
        let net = Network::create(2).expect("network");
        let list = ip(&["netns", "list"]).expect("ip netns list");
        assert!(!list.contains(dead), "leftover not swept: {list}");
        assert!(list.contains(&net.namespace(1)) && list.contains(&net.hub()));
        let root_link = net.root_link.clone();
        let (hub, m0) = (net.hub(), net.namespace(0));
        drop(net);
        let list = ip(&["netns", "list"]).expect("ip netns list");
        assert!(!list.contains(&hub) && !list.contains(&m0), "{list}");
        assert!(
            ip(&["link", "show", &root_link]).is_err(),
            "{root_link} left behind"
        );
    }
}
