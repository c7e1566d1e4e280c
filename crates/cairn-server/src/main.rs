//! `cairn`: an etcd-compatible member. Parses etcd's flags, sets up logging, runs.

mod allocator;
mod allowed_identity;
mod auto_compaction;
mod auto_tls;
mod cipher_suites;
mod client_cert_check;
mod config;
mod context;
mod corruption_check;
mod etcd_snapshot;
mod flags;
mod grpc_metrics;
mod http;
mod join;
mod metrics;
mod peer_client_san;
mod process_metrics;
mod restart;
mod revocation;
mod server;
mod services;
mod start_gate;
mod threads;
mod tls;
mod tls_incoming;
mod watched_files;
mod x509_fields;

use std::process::ExitCode;

use config::Command;

const USAGE: &str = "Usage:\n\n  cairn [flags]\n    Start a Cairn member (etcd-compatible flags; see COMPATIBILITY.md).\n\n  cairn --version\n    Show the version.\n";

fn init_logging(level: &str, logger: &str) {
    let level = match level {
        "debug" => "debug",
        "warn" => "warn",
        "error" | "panic" | "fatal" => "error",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},openraft=warn,h2=warn,tower=warn,hyper=warn"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if logger == "zap" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.with_ansi(false).init();
    }
}

fn main() -> ExitCode {
    allocator::configure();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match config::parse(&args, &|k| std::env::var(k).ok()) {
        Ok(Command::Run(cfg)) => *cfg,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("cairn Version: {}", context::CAIRN_VERSION);
            println!("etcd Version: {}", context::ETCD_VERSION);
            println!("API Version: 3.5");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("cairn: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg.log_level, &cfg.logger);
    let serves_tls = cfg
        .listen_client_urls
        .iter()
        .chain(&cfg.listen_peer_urls)
        .chain(&cfg.listen_metrics_urls)
        .any(|url| url.scheme() == "https");
    if let Err(e) = cipher_suites::install_for(&cfg.cipher_suites, serves_tls) {
        tracing::error!("{e}");
        eprintln!("cairn: {e}");
        return ExitCode::FAILURE;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads::from_env() {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cairn: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "worker threads serving requests and Raft: {} (one per CPU unless GOMAXPROCS or TOKIO_WORKER_THREADS is set)",
        runtime.metrics().num_workers()
    );
    match runtime.block_on(server::run(cfg)) {
        Ok(server::RunEnd::Stopped) => ExitCode::SUCCESS,
        Ok(server::RunEnd::Restart) => {
            drop(runtime);
            let e = restart::reexec();
            tracing::error!("{e:#}");
            eprintln!("cairn: {e:#}");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("cairn: {e:#}");
            ExitCode::FAILURE
        }
    }
}
