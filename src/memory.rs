//! The allocator settings the server runs with.
//!
//! glibc's malloc serves large blocks (128 KiB and up, at first) with their own `mmap`, and
//! gives the top of a heap back to the kernel as soon as 128 KiB of it are free. The engine
//! allocates exactly such blocks in a steady rhythm (each cross-shard batch gets a fresh
//! arena; connection and route output buffers grow and shrink), so under load the same
//! memory went back and forth to the kernel and every reuse faulted zeroed pages in again:
//! a routed 16 KiB run spent ~6% of its time in page faults and page clearing. Keeping up
//! to 64 MiB of free heap and serving blocks below 32 MiB from it measured (two-node
//! cluster, both nodes on one CPU, nats-bench `routed`): 16 KiB 33k -> 40-49k msgs/s,
//! 1 KiB 410k -> 475k msgs/s. (Raising only the mmap threshold made it worse: it also
//! pins the trim threshold at its 128 KiB default.)
//!
//! A `GLIBC_TUNABLES` set by the user is left to rule.

/// Keep freed memory for reuse instead of returning it to the kernel at once.
const TRIM_THRESHOLD: libc::c_int = 64 << 20;
/// Blocks below this come from the heap (reusable) rather than their own mapping.
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Applies the settings above, unless `GLIBC_TUNABLES` is set. Call before any thread
/// starts.
pub fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        // SAFETY: mallopt only changes malloc's parameters; called before other threads
        // exist. A refused value (0) leaves glibc's defaults, which only costs speed.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}
