//! Free loopback ports, picked at runtime (never fixed).
//!
//! Ports are drawn at random from below the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`) and checked free by binding
//! them. A port the kernel hands out for `127.0.0.1:0` would come from the
//! ephemeral range, and between the moment it is released here and the moment
//! a member binds it, any outgoing connection on the machine may take it as
//! its local port ("Address already in use"). Ports below the range are never
//! handed out that way. A process is never handed the same port twice (until
//! it has been handed half the pool), so separate calls do not collide.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::ops::Range;
use std::sync::Mutex;

use rand::Rng;

use crate::error::{HarnessError, Result};

/// Where ports are drawn from when the ephemeral range cannot be read.
const DEFAULT_EPHEMERAL_START: u16 = 32768;
/// The lowest port handed out (clear of well-known and registered services
/// a test machine typically runs).
const POOL_START: u16 = 10_000;
/// The fewest ports worth drawing from; below this the kernel picks instead.
const MIN_POOL: u16 = 2_000;
/// Random draws per port before giving up.
const ATTEMPTS_PER_PORT: usize = 500;

/// Ports this process was handed already.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Returns `count` distinct free TCP ports on 127.0.0.1.
pub fn free_ports(count: usize) -> Result<Vec<u16>> {
    let pool = POOL_START..ephemeral_start();
    if pool.len() < usize::from(MIN_POOL) {
        return kernel_chosen_ports(count);
    }
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if handed_out.len() + count > pool.len() / 2 {
        handed_out.clear();
    }
    let mut rng = rand::thread_rng();
    let mut held: Vec<(u16, TcpListener)> = Vec::with_capacity(count);
    for _ in 0..count {
        let port = (0..ATTEMPTS_PER_PORT)
            .map(|_| rng.gen_range(pool.clone()))
            .find_map(|port| {
                if handed_out.contains(&port) {
                    return None;
                }
                TcpListener::bind(("127.0.0.1", port))
                    .ok()
                    .map(|listener| (port, listener))
            })
            .ok_or_else(|| no_free_port(&pool))?;
        handed_out.insert(port.0);
        held.push(port);
    }
    Ok(held.into_iter().map(|(port, _)| port).collect())
}

/// One free TCP port on 127.0.0.1 (see [`free_ports`]).
pub fn free_port() -> Result<u16> {
    free_ports(1).map(|ports| ports[0])
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START)
}

fn no_free_port(pool: &Range<u16>) -> HarnessError {
    HarnessError::io(
        format!("picking a free port in {}..{}", pool.start, pool.end),
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("no free port after {ATTEMPTS_PER_PORT} random tries"),
        ),
    )
}

/// Ports the kernel picks (`127.0.0.1:0`), for machines whose ephemeral
/// range leaves too little room below it.
fn kernel_chosen_ports(count: usize) -> Result<Vec<u16>> {
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| HarnessError::io("binding 127.0.0.1:0 to pick a free port", e))?;
        listeners.push(listener);
    }
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| HarnessError::io("reading a bound port", e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_and_below_the_ephemeral_range() {
        let ports = free_ports(64).expect("free ports");
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 64);
        let ephemeral = ephemeral_start();
        assert!(
            ephemeral > POOL_START + MIN_POOL,
            "test machine's range starts at {ephemeral}"
        );
        assert!(
            ports.iter().all(|&p| (POOL_START..ephemeral).contains(&p)),
            "{ports:?} not all in {POOL_START}..{ephemeral}"
        );
        // Released: each can be bound again.
        for port in ports {
            TcpListener::bind(("127.0.0.1", port)).expect("returned port is free");
        }
    }

    #[test]
    fn separate_calls_never_return_the_same_port() {
        let mut all: Vec<u16> = (0..300).map(|_| free_port().expect("free port")).collect();
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        assert_eq!(all.len(), before);
    }

    #[test]
    fn a_port_bound_elsewhere_is_never_returned() {
        // Occupy about a tenth of the pool behind the picker's back.
        let pool = POOL_START..ephemeral_start();
        let taken: Vec<TcpListener> = pool
            .clone()
            .step_by(10)
            .filter_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        assert!(taken.len() > pool.len() / 20, "could not occupy the pool");
        let taken_ports: BTreeSet<u16> = taken
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        let picked = free_ports(200).expect("free ports");
        assert!(picked.iter().all(|p| !taken_ports.contains(p)));
    }
}
