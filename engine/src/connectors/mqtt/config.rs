//! The options of `[sources.NAME] kind = "mqtt"`: `url` (`mqtt://HOST:PORT`, `mqtts://` for TLS with
//! `ca_file` or the system's roots), `topics` (with `+`/`#`), `qos` (1 by default; 0 acknowledges nothing and
//! may lose what was in flight; 2 is refused until the client can resume it), `client_id` (default `weir-JOB-SOURCE`), `username`/`password` (write
//! `"${MQTT_PASSWORD}"` to take them from the environment), `keep_alive`, `topic_field`, `max_log_bytes`.

use super::source::MqttSourceSpec;
use crate::component::SourceComponent;
use crate::config::Section;
use crate::component::ingest::IngestOptions;
use crate::schema::Schema;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `kind = "mqtt"` source.
pub fn source(s: &Section, base: &Path) -> (Option<Arc<dyn SourceComponent>>, Option<Schema>) {
    let url = s.req_str("url");
    let endpoint = url.and_then(|u| match parse_url(u) {
        Ok(e) => Some(e),
        Err(e) => {
            s.problem("url", e);
            None
        }
    });
    let topics = s.str_list("topics");
    match &topics {
        Some(t) if t.is_empty() => s.problem("topics", "list at least one topic filter, e.g. [\"fleet/+/pings\"]"),
        None if !s.has("topics") => s.problem("topics", "is required, e.g. topics = [\"fleet/+/pings\"]"),
        _ => {}
    }
    for t in topics.iter().flatten() {
        if let Err(e) = check_filter(t) {
            s.problem("topics", format!("`{t}`: {e}"));
        }
    }
    let qos = s.int("qos").unwrap_or(1);
    match qos {
        0 | 1 => {}
        2 => s.problem(
            "qos",
            "2 is not supported yet: the MQTT client (rumqttc 0.25) cannot resume a QoS 2 exchange after a \
             restart (an unsolicited PUBREL drops the connection again and again: rumqtt issue #664); use qos = 1, \
             which weir makes exactly-once by recognising redeliveries",
        ),
        _ => s.problem("qos", format!("must be 0 or 1, found {qos}")),
    }
    let keep_alive = s.duration_ms("keep_alive").unwrap_or(30_000);
    if keep_alive < 1_000 {
        s.problem("keep_alive", "must be at least \"1s\"");
    }
    let topic_field = s.str("topic_field").map(str::to_string);
    let ca_file = s.str("ca_file").map(|p| base.join(p));
    if ca_file.is_some() && endpoint.as_ref().is_some_and(|e| !e.2) {
        s.problem("ca_file", "is for TLS: write the url as mqtts://HOST:PORT");
    }
    let spec = MqttSourceSpec {
        host: endpoint.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
        port: endpoint.as_ref().map_or(1883, |e| e.1),
        tls: endpoint.as_ref().is_some_and(|e| e.2),
        ca_file,
        topics: topics.unwrap_or_default().iter().map(|t| t.to_string()).collect(),
        qos: qos.clamp(0, 2) as u8,
        client_id: s.str("client_id").map(str::to_string),
        username: s.str("username").map(str::to_string),
        password: s.str("password").map(str::to_string),
        keep_alive: Duration::from_millis(keep_alive.max(1_000) as u64),
        options: IngestOptions::read(s, topic_field),
    };
    (Some(Arc::new(spec)), None)
}

/// `mqtt://HOST[:PORT]` or `mqtts://HOST[:PORT]`: host, port (1883 or 8883 by default), TLS.
fn parse_url(url: &str) -> Result<(String, u16, bool), String> {
    let (rest, tls) = if let Some(r) = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")) {
        (r, false)
    } else if let Some(r) = url.strip_prefix("mqtts://").or_else(|| url.strip_prefix("ssl://")) {
        (r, true)
    } else {
        return Err(format!("`{url}` is not an MQTT URL; write mqtt://HOST:PORT (or mqtts:// for TLS)"));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("`{url}`: `{p}` is not a port number"))?,
        ),
        None => (rest, if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok((host.to_string(), port, tls))
}

/// A topic filter's wildcards: `+` a whole level, `#` the whole last level.
fn check_filter(filter: &str) -> Result<(), &'static str> {
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        if l.contains('#') && (*l != "#" || i + 1 != levels.len()) {
            return Err("`#` must be a whole level and the last one (e.g. fleet/#)");
        }
        if l.contains('+') && *l != "+" {
            return Err("`+` must be a whole level (e.g. fleet/+/pings)");
        }
    }
    if filter.is_empty() {
        return Err("is empty");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_filters() {
        assert_eq!(parse_url("mqtt://127.0.0.1:1884").unwrap(), ("127.0.0.1".into(), 1884, false));
        assert_eq!(parse_url("mqtts://broker.example").unwrap(), ("broker.example".into(), 8883, true));
        assert!(parse_url("http://x").unwrap_err().contains("mqtt://HOST:PORT"));
        assert!(parse_url("mqtt://x:port").unwrap_err().contains("port"));
        assert!(check_filter("fleet/+/pings").is_ok() && check_filter("fleet/#").is_ok());
        assert!(check_filter("fleet/#/x").is_err() && check_filter("fleet/a+").is_err());
    }
}
