//! etcd services Cairn does not implement yet. They are registered so every
//! method answers gRPC `Unimplemented` (never a wrong answer or an HTTP 404).

use cairn_proto::etcdserverpb::auth_server::Auth;

/// Stands in for Auth until it is built.
pub struct NotYet;

impl Auth for NotYet {}
