//! The member's memory allocator: mimalloc, returning freed memory after
//! 10 ms and with transparent huge pages off.
//!
//! With glibc's malloc, allocation and free were ~16% of the leader's CPU
//! under put load (8 KiB codec buffers per gRPC call among them); paired runs
//! with mimalloc used ~12% less CPU per put (BENCHMARKS.md, finding 22). The
//! two settings below keep its resident memory within a few MiB of glibc's.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e` of the
/// bundled mimalloc 3; libmimalloc-sys names no constant for it). The test
/// below checks the position by the option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long mimalloc keeps freed memory before it gives it back to the OS.
/// Its default, 1 s, kept a leader ~10 MiB above glibc's peak resident
/// memory under a burst of writes (VmHWM 85 MiB against 74–77 MiB with
/// 100,000 keys). 0 brought that to 77–78 MiB but made the memory of every
/// short-lived buffer fault in again (a snapshot save streams ~1,000 of
/// them: 0.095 → 0.128–0.177 s, and 7% more CPU per put). 10 ms, mimalloc
/// 2's default, keeps such buffers for reuse and the peak at 79 MiB.
const PURGE_DELAY_MS: std::os::raw::c_long = 10;

/// Sets the allocator up; called first thing in `main`.
pub fn configure() {
    return_freed_memory_soon();
    disable_transparent_huge_pages();
}

fn return_freed_memory_soon() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option
    // table; any value is valid for this option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}

/// Turns transparent huge pages off for this process.
///
/// mimalloc reserves its memory in large aligned regions; where the kernel
/// backs them with 2 MiB pages (THP `always`, or `madvise`, which mimalloc
/// requests unless built with `no_thp`), a member loaded with 100,000 keys
/// held ~120 MiB resident instead of ~75 MiB. A key-value store's small
/// objects gain nothing from huge pages that would pay for that.
#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process's memory
    // map; it takes no pointers. Its result is advisory (a kernel without it
    // returns -1 and huge pages stay as the system configures them).
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        eprintln!(
            "cairn: could not turn transparent huge pages off for this process: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, so that nothing else in this process calls `configure`
    /// before the default is read.
    #[test]
    fn configure_sets_the_purge_delay_and_turns_huge_pages_off() {
        // SAFETY (all calls below): reading or writing an option is plain
        // integer access to mimalloc's option table.
        // mimalloc 3 documents purge_delay's default as 1000 ms; no option
        // near it has that default, so a wrong position fails here.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(
                unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
                1000
            );
        }
        configure();
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            PURGE_DELAY_MS
        );
        #[cfg(target_os = "linux")]
        assert_eq!(
            // SAFETY: PR_GET_THP_DISABLE takes no pointers.
            unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) },
            1
        );
    }
}
