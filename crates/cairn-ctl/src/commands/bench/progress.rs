//! The progress bar a benchmark draws on stderr while it runs, only when
//! stderr is a terminal (so logs and pipes stay clean). It is drawn from
//! the thread that awaits the work, because cairnctl holds stderr's lock
//! for its whole run.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Awaits `work`, redrawing `done` out of `total` on `err` every 200 ms
/// when `enabled`.
pub async fn drive<F: Future>(
    err: &mut dyn Write,
    enabled: bool,
    done: &AtomicU64,
    total: u64,
    work: F,
) -> F::Output {
    if !enabled {
        return work.await;
    }
    let start = Instant::now();
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            output = &mut work => {
                draw(err, done.load(Ordering::Relaxed), total, start.elapsed());
                let _ = writeln!(err);
                return output;
            }
            _ = tick.tick() => draw(err, done.load(Ordering::Relaxed), total, start.elapsed()),
        }
    }
}

fn draw(err: &mut dyn Write, done: u64, total: u64, elapsed: Duration) {
    const WIDTH: u64 = 40;
    let filled = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH) as usize;
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let _ = write!(
        err,
        "\r {done} / {total} [{}{}] {percent}% {:.1}s",
        "=".repeat(filled),
        " ".repeat(WIDTH as usize - filled),
        elapsed.as_secs_f64()
    );
    let _ = err.flush();
}
