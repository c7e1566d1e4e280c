//! The reason a member must stop on its own (it was removed from the cluster, or
//! its cluster was superseded). Raised by the peer transport or the membership
//! monitor, awaited by the server, which exits with the reason.

use std::sync::Arc;

use tokio::sync::watch;

/// A one-shot stop request shared by the parts of a member; cheap to clone.
#[derive(Clone)]
pub struct StopSignal(Arc<watch::Sender<Option<String>>>);

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal(Arc::new(watch::channel(None).0))
    }
}

impl StopSignal {
    /// Asks the member to stop; the first reason wins.
    pub fn stop(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    /// The reason, once stopping was asked for.
    pub fn reason(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Waits until stopping is asked for and returns the reason.
    pub async fn wait(&self) -> String {
        let mut rx = self.0.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return "stop signal dropped".into();
            }
        }
    }
}
