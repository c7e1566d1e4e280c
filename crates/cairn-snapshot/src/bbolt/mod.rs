//! A minimal bbolt implementation: enough to read any bbolt file etcd produces and to
//! write files that strict bbolt accepts. `page` holds the on-disk encoding, `reader`
//! walks trees, `writer` lays them out as their entries arrive.

pub mod page;
pub mod reader;
pub mod writer;

pub use reader::BoltReader;
pub use writer::{BoltBuilder, BucketWriter};

#[cfg(test)]
mod tests;
