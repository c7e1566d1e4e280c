//! gRPC services of the etcd v3 API that Cairn implements.

pub mod auth;
pub mod cluster;
pub mod health;
pub mod kv;
pub mod lease;
pub mod maintenance;
pub mod recovery;
pub mod settings;
pub mod watch;
