//! The `cairnctl` binary: hands the process's arguments and standard
//! streams to `cairn_ctl::run` and exits with its code.

use std::io::BufWriter;

fn main() {
    // Not locked for good: `watch -i` reads stdin from another thread.
    let mut input = std::io::BufReader::new(std::io::stdin());
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut err = std::io::stderr().lock();
    let code = cairn_ctl::run(
        std::env::args_os().collect(),
        &mut input,
        &mut out,
        &mut err,
    );
    drop(out);
    std::process::exit(code);
}
