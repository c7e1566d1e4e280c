//! Compiles every `.proto` under `proto/` into Rust with `protox` (pure Rust, no
//! system `protoc`) and `tonic-prost-build` (messages, clients and servers).

use std::path::{Path, PathBuf};

use prost::Message;

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut protos = Vec::new();
    collect_protos(&root, &mut protos)?;
    protos.sort();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    let fds = protox::compile(&protos, [&root])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("cairn_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Server methods a service does not override answer `Unimplemented`.
        .generate_default_stubs(true)
        // Snapshot chunks are slices of one image, sent without copying them out.
        .bytes(".etcdserverpb.SnapshotResponse.blob")
        .compile_fds(fds)?;
    Ok(())
}
