//! Free loopback ports, picked at runtime (never fixed): bind `127.0.0.1:0`, read
//! the port the kernel chose, release it. All ports of one request are held until
//! every one is chosen, so a request never returns the same port twice.

use std::net::TcpListener;

use crate::error::{HarnessError, Result};

/// Returns `count` distinct free TCP ports on 127.0.0.1.
pub fn free_ports(count: usize) -> Result<Vec<u16>> {
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
    fn ports_are_distinct_and_nonzero() {
        let ports = free_ports(8).expect("free ports");
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
        assert!(ports.iter().all(|&p| p != 0));
    }
}
