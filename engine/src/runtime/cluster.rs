//! Several processes running one job on timely's cluster mode: the timely configuration, a start-up
//! handshake over timely's own channels, and stopping promptly when a peer is lost.
//!
//! Every process runs the same job file with the same worker count; timely numbers the workers of all
//! processes `0 … N·W − 1` (process `I` has `I·W … I·W + W − 1`). Everything that crosses processes goes
//! through timely's channels: exchanges by key, sinks' records to global worker 0 (process 0 writes every
//! file sink, so outputs are byte-identical to one process), and the handshake below. Each file partition is
//! read by one process (`partition mod N`), decoded in parallel by that process's workers; Kafka partitions
//! spread over all workers.
//!
//! **Handshake.** Before the job's dataflow is built, every process broadcasts `(process, workers, job
//! fingerprint, HTTP port)`; a process that hears of another job or worker count, or does not hear from
//! everyone within [`HANDSHAKE_TIMEOUT`], stops with the reason instead of timely's silent hang. The HTTP
//! ports (with each process's host from the hostfile) tell the live views where every other process serves,
//! so a view lookup is answered by the process that owns the key.
//!
//! **A lost peer.** Timely's network threads panic with "timely communication error" when a peer's socket
//! closes without timely's shutdown message; a panic hook turns that into a message naming the process and
//! its address, and exits the process (status 1) at once — a run that lost a peer cannot finish, and its
//! outputs are only published through checkpoints, which a restarted cluster resumes from.

use crate::dataflow::Time;
use crate::plan::{ClusterPlan, Plan};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Input, Inspect, Probe};

/// Whether this process is a cluster member still connecting to its peers or in the start-up handshake (set
/// by [`stop_on_lost_peer`], cleared by [`handshake`]): a peer lost now most likely disagreed with it.
static STARTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process is a cluster member still connecting to its peers or agreeing with them (nothing
/// read, nothing written): timely's connecting looks at no stop, so a stop asked for now may simply exit.
pub fn joining_cluster() -> bool {
    STARTING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Peers lost so far (by the network thread that noticed), and whether a thread is reporting them.
static LOST: parking_lot::Mutex<Vec<usize>> = parking_lot::Mutex::new(Vec::new());
static REPORTING: parking_lot::Mutex<bool> = parking_lot::Mutex::new(false);

/// How long a process waits for every other one at start-up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// The timely configuration of a plan: one process with `workers` threads, or one of a cluster.
pub fn timely_config(plan: &Plan) -> timely::Config {
    let threads = plan.workers.max(1);
    match &plan.cluster {
        None => timely::Config::process(threads),
        Some(c) => timely::Config {
            communication: timely::CommunicationConfig::Cluster {
                threads,
                process: c.process,
                addresses: c.addresses.clone(),
                report: false,
                zerocopy: false,
            },
            worker: timely::WorkerConfig::default(),
        },
    }
}

/// What every process must agree on: the job's name and state-relevant shape.
pub fn fingerprint(plan: &Plan) -> u64 {
    let shape = plan.shape();
    let mut h = weir_operators::alert::Fnv64::new();
    h.write(plan.job_name.as_bytes());
    for (k, v) in &shape {
        h.write(k.as_bytes());
        h.write(v.as_bytes());
    }
    h.finish()
}

/// Exits the process naming the peer when timely loses its connection to one — or when the processes have
/// not all connected and agreed within [`HANDSHAKE_TIMEOUT`] (timely itself retries connecting forever).
pub fn stop_on_lost_peer(cluster: &ClusterPlan) {
    let (process, n) = (cluster.process, cluster.processes());
    STARTING.store(true, std::sync::atomic::Ordering::SeqCst);
    std::thread::spawn(move || {
        std::thread::sleep(HANDSHAKE_TIMEOUT);
        if STARTING.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!(
                "error: process {process}: the {n} processes did not all connect within {HANDSHAKE_TIMEOUT:?}; check the hostfile, that every process was started, and that they reach each other"
            );
            std::process::exit(1);
        }
    });
    let addresses = cluster.addresses.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        // A lost peer is being reported: whatever else panics as a consequence waits for the exit.
        if *REPORTING.lock() {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let thread = std::thread::current().name().unwrap_or("").to_string();
        let network = thread.starts_with("timely:recv-") || thread.starts_with("timely:send-");
        if message.contains("timely communication error") || network || message.contains("MergeQueue poisoned") {
            let peer = network
                .then(|| thread.rsplit('-').next().and_then(|i| i.parse::<usize>().ok()))
                .flatten();
            let addr = |p: usize| addresses.get(p).map_or("?", String::as_str).to_string();
            // Report the peer that went first: a process that lost a peer exits, so others may see it go
            // too; collect what is lost for a moment, then name it in the order seen.
            let first = {
                let mut lost = LOST.lock();
                if let Some(p) = peer.filter(|p| !lost.contains(p)) {
                    lost.push(p);
                }
                !std::mem::replace(&mut *REPORTING.lock(), true)
            };
            if !first {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            std::thread::sleep(Duration::from_millis(300));
            let lost = LOST.lock().clone();
            let names: Vec<String> = lost.iter().map(|p| format!("process {p} ({})", addr(*p))).collect();
            let names = if names.is_empty() {
                "a peer process".to_string()
            } else {
                names.join(", then ")
            };
            if STARTING.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!(
                    "error: lost {names} during start-up: {message} — every process must run the same weir, job and --workers"
                );
            } else if message.contains("timely communication error") || message.contains("MergeQueue poisoned") {
                eprintln!(
                    "error: lost {names}: {message}; stopping (restart the cluster to resume from the last checkpoint)"
                );
            } else {
                eprintln!(
                    "error: the connection to {names} broke: {message} — every process must run the same weir, job and --workers"
                );
            }
            std::process::exit(1);
        }
        previous(info);
    }));
}

/// Builds the dataflow that carries checkpoint announcements (epoch, logical time) from worker 0 to every
/// worker, each handing them to its process's coordinator; returns worker 0's input to announce with.
pub fn checkpoint_announcements(
    worker: &mut timely::worker::Worker,
    coordinator: std::sync::Arc<crate::checkpoint::Coordinator>,
) -> timely::dataflow::InputHandle<Time, timely::container::CapacityContainerBuilder<Vec<(u64, u64)>>> {
    worker.dataflow::<Time, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Vec<(u64, u64)>>();
        stream
            .broadcast()
            .inspect(move |(epoch, at)| coordinator.announce(*epoch, *at));
        input
    })
}

/// What one process says of itself in the handshake: (process, workers, job fingerprint, HTTP port or 0).
type Hello = (usize, usize, u64, u16);

/// The start-up handshake on one worker (see the module doc), telling the others this process's HTTP port
/// (0: none): every process's HTTP `host:port` (`None`: it serves none; empty without a cluster), or `Err`
/// with the reason on a mismatch or timeout.
pub fn handshake(
    worker: &mut timely::worker::Worker,
    plan: &Plan,
    http_port: u16,
) -> Result<Vec<Option<String>>, String> {
    let Some(cluster) = &plan.cluster else {
        return Ok(Vec::new());
    };
    let threads = plan.workers.max(1);
    let me = (cluster.process, threads, fingerprint(plan), http_port);
    let heard: Rc<RefCell<Vec<Hello>>> = Rc::default();
    let probe = ProbeHandle::<Time>::new();
    let sink = heard.clone();
    let mut input = worker.dataflow::<Time, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Vec<Hello>>();
        stream
            .broadcast()
            .inspect(move |x| sink.borrow_mut().push(*x))
            .probe_with(&probe);
        input
    });
    if worker.index().is_multiple_of(threads) {
        input.send(me);
    }
    input.advance_to(1);
    drop(input);
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut waited = Instant::now();
    while probe.less_than(&1) {
        worker.step_or_park(Some(Duration::from_millis(50)));
        if let Some(reason) = mismatch(&heard.borrow(), me, cluster) {
            return Err(reason);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "process {} heard from only {} of {} processes within {:?}; check that every process runs with the same hostfile and --workers",
                cluster.process,
                heard.borrow().len(),
                cluster.processes(),
                HANDSHAKE_TIMEOUT
            ));
        }
        if worker.index() == 0 && waited.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "weir: waiting for the other processes ({} of {} so far)",
                heard.borrow().len(),
                cluster.processes()
            );
            waited = Instant::now();
        }
    }
    let verdict = mismatch(&heard.borrow(), me, cluster);
    match verdict {
        Some(reason) => Err(reason),
        None => {
            STARTING.store(false, std::sync::atomic::Ordering::SeqCst);
            let mut http = vec![None; cluster.processes()];
            for (process, _, _, port) in heard.borrow().iter() {
                if *port != 0 {
                    let host = cluster.addresses[*process]
                        .rsplit_once(':')
                        .map_or(cluster.addresses[*process].as_str(), |(h, _)| h);
                    http[*process] = Some(format!("{host}:{port}"));
                }
            }
            Ok(http)
        }
    }
}

fn mismatch(heard: &[Hello], me: Hello, cluster: &ClusterPlan) -> Option<String> {
    for (process, workers, fingerprint, _) in heard {
        let addr = cluster.addresses.get(*process).map_or("?", String::as_str);
        if *workers != me.1 {
            return Some(format!(
                "process {process} ({addr}) runs {workers} worker(s) per process and this one (process {}) runs {}: every process needs the same --workers",
                me.0, me.1
            ));
        }
        if *fingerprint != me.2 {
            return Some(format!(
                "process {process} ({addr}) runs a different job definition than this one (process {}): every process must run the same job file with the same settings",
                me.0
            ));
        }
    }
    None
}
