//! The `[job.cluster]` section: this process's index and every process's address.

use crate::definition::Section;

/// `[job.cluster]`: `hostfile` (one `host:port` per line, in process order; `#` comments) or `addresses`,
/// `process` (this process's index — or a name ending in it, like a StatefulSet pod's `weir-2`) and
/// optionally `processes` (checked against the hostfile). One process is no cluster.
pub(super) fn cluster_plan(c: &Section) -> Option<weir_engine::plan::ClusterPlan> {
    let addresses: Vec<String> = match (c.str("hostfile"), c.str_list("addresses")) {
        (Some(_), Some(_)) => {
            c.problem("addresses", "give either `hostfile` or `addresses`, not both");
            return None;
        }
        (Some(file), None) => match std::fs::read_to_string(file) {
            Ok(text) => text
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            Err(e) => {
                c.problem("hostfile", format!("cannot read `{file}`: {e}"));
                return None;
            }
        },
        (None, Some(list)) => list.iter().map(|a| a.to_string()).collect(),
        (None, None) => {
            c.problem(
                "hostfile",
                "is required with several processes: one host:port per line, in process order (--hostfile FILE)",
            );
            return None;
        }
    };
    let processes = c.count("processes", 1).map(|n| n as usize);
    let process = match c.value("process") {
        Some(toml::Value::Integer(i)) if *i >= 0 => Some(*i as usize),
        Some(toml::Value::String(name)) => {
            let digits: String = name.chars().rev().take_while(char::is_ascii_digit).collect();
            let digits: String = digits.chars().rev().collect();
            match digits.parse() {
                Ok(i) => Some(i),
                Err(_) => {
                    c.problem(
                        "process",
                        format!("\"{name}\" is not a process index (or a name ending in one, like \"weir-2\")"),
                    );
                    None
                }
            }
        }
        Some(_) => {
            c.problem("process", "expected this process's index, 0 to processes − 1");
            None
        }
        None => {
            c.problem(
                "process",
                "is required: this process's index in the hostfile (--process I)",
            );
            None
        }
    };
    c.finish("");
    for a in &addresses {
        let ok = a
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            c.problem("hostfile", format!("`{a}` is not host:port"));
            return None;
        }
    }
    for (i, a) in addresses.iter().enumerate() {
        if let Some(j) = addresses[..i].iter().position(|b| b == a) {
            c.problem(
                "hostfile",
                format!("process {i}'s address `{a}` repeats process {j}'s: every process needs its own host:port"),
            );
            return None;
        }
    }
    if let Some(n) = processes {
        if n != addresses.len() {
            c.problem(
                "processes",
                format!("is {n}, but the hostfile lists {} processes", addresses.len()),
            );
            return None;
        }
    }
    let process = process?;
    if process >= addresses.len() {
        c.problem(
            "process",
            format!(
                "is {process}, but the hostfile lists {} processes (0 to {})",
                addresses.len(),
                addresses.len().saturating_sub(1)
            ),
        );
        return None;
    }
    (addresses.len() > 1).then_some(weir_engine::plan::ClusterPlan { process, addresses })
}
