//! A spinner on stderr while blocking work runs, only when stderr is a
//! terminal. The work runs on a thread of its own and the spinner is drawn
//! from the calling thread: cairnctl holds stderr's lock for its whole run,
//! so a thread that draws by itself (as indicatif's ticker does) would wait
//! for that lock forever, and the command with it.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

/// Runs `work`, showing `what` and the time spent on `err` meanwhile when
/// stderr is a terminal; returns what `work` returned.
pub fn run_with_spinner<T: Send>(
    err: &mut dyn Write,
    what: &str,
    work: impl FnOnce() -> T + Send,
) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    draw_while(err, what, work)
}

/// [`run_with_spinner`] without the terminal check.
fn draw_while<T: Send>(err: &mut dyn Write, what: &str, work: impl FnOnce() -> T + Send) -> T {
    let start = Instant::now();
    let outcome = std::thread::scope(|s| {
        let worker = s.spawn(work);
        let mut frame = 0;
        while !worker.is_finished() {
            let _ = write!(
                err,
                "\r{} {what} {:.1}s",
                FRAMES[frame % FRAMES.len()],
                start.elapsed().as_secs_f64()
            );
            let _ = err.flush();
            frame += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        worker.join()
    });
    // Clear the spinner's line.
    let width = what.len() + 16;
    let _ = write!(err, "\r{}\r", " ".repeat(width));
    let _ = err.flush();
    match outcome {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_runs_to_the_end_while_the_caller_holds_the_writer() {
        let mut drawn: Vec<u8> = Vec::new();
        let value = draw_while(&mut drawn, "working", || {
            std::thread::sleep(Duration::from_millis(250));
            42
        });
        assert_eq!(value, 42);
        let text = String::from_utf8_lossy(&drawn);
        assert!(text.contains("working"), "{text:?}");
        assert!(text.ends_with('\r'), "the line is cleared: {text:?}");
    }
}
