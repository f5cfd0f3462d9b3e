//! `weir cluster --local N JOB [RUN FLAGS]`: one job as N processes on 127.0.0.1 (timely cluster mode), for
//! trying cluster mode on one machine. It finds N free ports, starts `weir run JOB --processes N --process I
//! --set job.cluster.addresses=[…] …` for each I, prefixes their stderr with `[process I]`, forwards
//! SIGINT/SIGTERM to them, and when one fails stops the others and exits with its status. A job with
//! `[serve]` has process `I` listen on the configured port + `I` (port 0 stays 0); any of them answers
//! every view key.
//!
//! The processes die with the supervisor: each gets SIGTERM (a clean stop, with a final checkpoint) when it
//! does, even by SIGKILL, and no temporary file is left behind.

use super::child::{exit_code, how_it_ended, signal_child};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `args` (everything `weir run` takes, the job first) as `processes` local processes.
pub(crate) fn cluster_local(processes: usize, args: &[String]) -> Result<ExitCode> {
    anyhow::ensure!(processes >= 1, "--local needs at least 1 process");
    let listeners: Vec<std::net::TcpListener> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .context("finding free ports on 127.0.0.1")?;
    let hosts: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<std::io::Result<_>>()?;
    drop(listeners);
    let addresses: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let addresses = format!("job.cluster.addresses=[{}]", addresses.join(", "));
    eprintln!("weir: {processes} processes on {}", hosts.join(", "));
    let exe = std::env::current_exe()?;
    let listen = serve_listen(args);
    let mut children: Vec<Child> = Vec::new();
    for i in 0..processes {
        let mut serve = Vec::new();
        if let Some((host, port)) = &listen {
            let port = if *port == 0 { 0 } else { port + i as u16 };
            eprintln!("weir: process {i} serves on {host}:{port}");
            serve = vec!["--set".to_string(), format!("serve.listen={host}:{port}")];
        }
        let mut command = Command::new(&exe);
        command
            .arg("run")
            .args(args)
            .args(&serve)
            .args(["--processes", &processes.to_string(), "--process", &i.to_string()])
            .args(["--set", &addresses])
            .stderr(Stdio::piped());
        super::child::dies_with_parent(&mut command, libc::SIGTERM);
        let mut child = command.spawn().with_context(|| format!("starting process {i}"))?;
        let err = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[process {i}] {line}");
            }
        });
        children.push(child);
    }
    let signalled = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, signalled.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, signalled.clone())?;
    let mut statuses: Vec<Option<std::process::ExitStatus>> = vec![None; processes];
    let mut stopping: Option<Instant> = None;
    let mut failed: Option<(usize, std::process::ExitStatus)> = None;
    loop {
        let mut ended_now = Vec::new();
        for (i, c) in children.iter_mut().enumerate() {
            if statuses[i].is_none() {
                if let Some(s) = c.try_wait()? {
                    statuses[i] = Some(s);
                    ended_now.push((i, s));
                }
            }
        }
        if failed.is_none() && ended_now.iter().any(|(_, s)| !s.success()) {
            // A process killed by a signal makes its peers fail too ("lost process N"): name the one the
            // signal killed, also when a peer's failure is seen first (within a moment).
            if !ended_now.iter().any(|(_, s)| s.signal().is_some()) {
                let seen = Instant::now();
                while seen.elapsed() < ROOT_CAUSE_WAIT && !ended_now.iter().any(|(_, s)| s.signal().is_some()) {
                    std::thread::sleep(Duration::from_millis(20));
                    for (i, c) in children.iter_mut().enumerate() {
                        if statuses[i].is_none() {
                            if let Some(s) = c.try_wait()? {
                                statuses[i] = Some(s);
                                ended_now.push((i, s));
                            }
                        }
                    }
                }
            }
            failed = ended_now
                .iter()
                .find(|(_, s)| s.signal().is_some())
                .or_else(|| ended_now.iter().find(|(_, s)| !s.success()))
                .copied();
        }
        if statuses.iter().all(Option::is_some) {
            break;
        }
        let stop = failed.is_some() || signalled.load(Ordering::SeqCst);
        if stop && stopping.is_none() {
            stopping = Some(Instant::now());
            for (i, c) in children.iter().enumerate() {
                if statuses[i].is_none() {
                    signal_child(c, libc::SIGTERM);
                }
            }
        }
        if stopping.is_some_and(|t| t.elapsed() > Duration::from_secs(70)) {
            for (i, c) in children.iter_mut().enumerate() {
                if statuses[i].is_none() {
                    let _ = c.kill();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(match failed {
        Some((i, status)) => {
            eprintln!(
                "weir: process {i} failed ({}); the others were stopped",
                how_it_ended(status)
            );
            ExitCode::from(exit_code(status))
        }
        None => ExitCode::SUCCESS,
    })
}

/// How long the launcher waits, after a process failed, for a peer killed by a signal (the likelier root cause)
/// to be seen.
const ROOT_CAUSE_WAIT: Duration = Duration::from_millis(300);

/// The job's `[serve] listen` as (host, port) as `weir run` would see it (environment interpolated, the
/// flags' `--set`s applied), if the job serves; `weir run` reports any problem with the job itself.
fn serve_listen(args: &[String]) -> Option<(String, u16)> {
    let source = weir_jobs::definition::JobSource::from_file(std::path::Path::new(args.first()?)).ok()?;
    let mut sets = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        if a == "--set" {
            sets.extend(rest.next().cloned());
        } else if let Some(s) = a.strip_prefix("--set=") {
            sets.push(s.to_string());
        }
    }
    let overrides = weir_jobs::definition::Overrides::sets(sets);
    let table = weir_jobs::definition::load(&source, &overrides, &|k| std::env::var(k).ok()).ok()?;
    let listen = match table.get("serve")?.get("listen") {
        Some(l) => l.as_str()?.to_string(),
        None => "127.0.0.1:7878".to_string(),
    };
    let (host, port) = listen.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}
