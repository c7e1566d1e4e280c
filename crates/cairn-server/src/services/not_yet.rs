//! etcd services Cairn does not implement yet. They are registered so every
//! method answers gRPC `Unimplemented` (never a wrong answer or an HTTP 404).

use cairn_proto::etcdserverpb::auth_server::Auth;
use cairn_proto::etcdserverpb::lease_server::Lease;
use cairn_proto::etcdserverpb::watch_server::Watch;

/// Stands in for Watch, Lease and Auth until they are built.
pub struct NotYet;

impl Watch for NotYet {}
impl Lease for NotYet {}
impl Auth for NotYet {}
