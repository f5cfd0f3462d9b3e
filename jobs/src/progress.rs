//! Progress of a running job: a bar on a terminal, a periodic one-line status otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use weir_engine::Metrics;

/// Reports progress from a background thread until dropped.
pub struct ProgressReporter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressReporter {
    pub fn start(metrics: Arc<Metrics>, status_every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let tty = std::io::stderr().is_terminal();
            let total = Metrics::get(&metrics.bytes_total);
            let bar = (tty && total > 0).then(|| {
                let b = ProgressBar::new(total);
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
                    )
                    .expect("valid template"),
                );
                b
            });
            let mut last_status = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                // Parked, not asleep: dropping the reporter wakes the thread at once.
                std::thread::park_timeout(Duration::from_millis(100));
                let records = Metrics::get(&metrics.records_in);
                let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-9);
                if let Some(b) = &bar {
                    b.set_position(Metrics::get(&metrics.bytes_read));
                    b.set_message(format!("{records} events, {:.0} k/s", rate / 1e3));
                } else if !tty && last_status.elapsed() >= status_every {
                    last_status = Instant::now();
                    eprintln!(
                        "weir: {records} events ({:.0} k/s), {} dead letters, {} late, {} windows, {} alerts",
                        rate / 1e3,
                        Metrics::get(&metrics.dead_letters),
                        Metrics::get(&metrics.late),
                        Metrics::get(&metrics.window_rows),
                        Metrics::get(&metrics.alerts)
                    );
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ProgressReporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
