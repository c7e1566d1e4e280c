//! A minimal bbolt implementation: enough to read any bbolt file etcd produces and to
//! write files that strict bbolt accepts. `page` holds the on-disk encoding, `reader`
//! walks trees, `writer` lays them out.

pub mod page;
pub mod reader;
pub mod writer;

pub use reader::BoltReader;
pub use writer::BoltWriter;

#[cfg(test)]
mod tests;
