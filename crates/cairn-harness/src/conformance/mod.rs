//! Differential conformance: run one etcdctl script against several clusters,
//! normalize what legitimately differs between them, compare line by line.
