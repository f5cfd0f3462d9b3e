//! How weir's threads ask the Linux scheduler for what they need when a job serves live views (`[serve]
//! reads_first`, on by default): ingestion is throughput work, HTTP reads are latency work, and while a job
//! catches up both want the same cores.
//!
//! - [`prefer_throughput`]: a dataflow worker runs at nice +19, the lowest weight (15 against a reader's
//!   1024), so a reader that wakes is due long before the worker it interrupts. Measured on 2 cores with
//!   two busy loops in place of the workers, lookups at 10 k req/s had p99 4 ms with the loops at nice +10
//!   and 0.5–1.1 ms at +19. The cost: next to other busy processes at nice 0, ingestion gets little CPU.
//! - [`prefer_latency`]: an HTTP thread asks for a short time slice (`sched_setattr` with `sched_runtime`,
//!   Linux ≥ 6.12 under EEVDF). A waking thread with a shorter slice than the running one may preempt it at
//!   once instead of waiting for the running thread's slice (1.4 ms on 2 cores) to end. Older kernels
//!   refuse the request, which changes nothing else.
//!
//! - [`prefer_realtime`] (`[serve] realtime_reads`, off by default): an HTTP thread runs under `SCHED_FIFO`
//!   at the lowest real-time priority, so it runs the moment it wakes, ahead of every ordinary thread on the
//!   machine. It needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` of at least 1; without either the kernel refuses
//!   and the thread keeps its slice. A request's few microseconds of work is all such a thread does, and
//!   Linux keeps 5 % of each second for ordinary threads even if real-time ones never sleep.
//!
//! All of them only change the calling thread and never fail the job: a refused request leaves the thread as
//! it was.

/// The slice an HTTP thread asks for: a request takes a few microseconds of CPU, far below this.
const LATENCY_SLICE_NS: u64 = 100_000;

/// The nice value of a worker while reads go first: the lowest priority.
const THROUGHPUT_NICE: i32 = 19;

/// Lowers the calling thread's priority to nice +19 (throughput work).
pub fn prefer_throughput() {
    // SAFETY: plain syscalls on the calling thread, with no pointers.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, THROUGHPUT_NICE);
    }
}

/// The kernel's `struct sched_attr` (include/uapi/linux/sched/types.h), first version plus utilization hints.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

/// Asks for a short time slice for the calling thread (latency work), keeping its policy (`SCHED_OTHER`)
/// and nice value. Returns whether the kernel took it.
pub fn prefer_latency() -> bool {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_runtime: LATENCY_SLICE_NS,
        ..Default::default()
    };
    // SAFETY: `attr` is a valid, fully initialised `sched_attr` of the size it states, alive for the call;
    // pid 0 is the calling thread.
    unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) == 0 }
}

/// Moves the calling thread to `SCHED_FIFO` at priority 1 (latency work that must not wait for any ordinary
/// thread). Returns whether the kernel took it; without the privilege it refuses and nothing changes.
pub fn prefer_realtime() -> bool {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: `param` is a valid `sched_param` alive for the call; pid 0 is the calling thread.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 }
}

/// The policy of an HTTP thread: real-time priority if `realtime` and the kernel allows it, else the short
/// slice if `reads_first`, else the defaults. Returns `false` only when real-time priority was asked for and
/// refused.
pub fn prefer_for_reads(reads_first: bool, realtime: bool) -> bool {
    if realtime && prefer_realtime() {
        return true;
    }
    if reads_first {
        prefer_latency();
    }
    !realtime
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_change_only_the_calling_thread() {
        std::thread::spawn(|| {
            prefer_throughput();
            // SAFETY: plain syscalls with no pointers.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::syscall(libc::SYS_gettid) as u32) };
            assert_eq!(nice, THROUGHPUT_NICE);
        })
        .join()
        .unwrap();
        let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::syscall(libc::SYS_gettid) as u32) };
        assert_eq!(nice, 0, "the calling thread of the test is untouched");
        // A kernel before 6.12 refuses a slice for SCHED_OTHER; either way the thread keeps running.
        std::thread::spawn(prefer_latency).join().unwrap();
    }
}
