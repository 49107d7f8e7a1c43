//! Scraping a metrics endpoint, reading samples out of an exposition, and a
//! real Prometheus server (Debian's `prometheus`) scraping ours.

use std::{
    collections::BTreeMap,
    fs,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::{TempDir, kill, spawn_on_free_port};

/// An HTTP response as the tests look at it.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header lines, as sent.
    pub headers: String,
    /// The body.
    pub body: String,
}

/// Sends raw `request` bytes to `addr` and reads the response until the
/// server closes (the tests' own client, so that malformed requests can be sent too).
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("expected the metrics endpoint at {addr} to accept: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    stream.write_all(request).expect("request sent");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("expected an HTTP status line from {addr}, got {head:?}"));
    HttpResponse {
        status,
        headers: head.to_string(),
        body: body.to_string(),
    }
}

/// `GET path` with an optional `Accept`.
pub fn http_get(addr: SocketAddr, path: &str, accept: Option<&str>) -> HttpResponse {
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n");
    http_raw(addr, request.as_bytes())
}

/// Scrapes `/metrics` in the Prometheus text format; panics unless it is a 200.
pub fn scrape(addr: SocketAddr) -> String {
    let response = http_get(addr, "/metrics", None);
    assert_eq!(response.status, 200, "expected a 200 for /metrics: {response:?}");
    response.body
}

/// The value of the sample of family `name` (its full sample name, e.g.
/// `dns_server_queries_total`) whose labels include every pair of `labels`.
pub fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(exposition, name)
        .into_iter()
        .find(|(have, _)| labels.iter().all(|(k, v)| have.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, value)| value)
}

/// Every sample named `name`: its labels and value.
pub fn samples(exposition: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut found = Vec::new();
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(split) => split,
            None => continue,
        };
        let (sample_name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if sample_name != name {
            continue;
        }
        let labels = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                Some((k.to_string(), v.trim_matches('"').to_string()))
            })
            .collect();
        if let Ok(value) = value.parse() {
            found.push((labels, value));
        }
    }
    found
}

/// Runs `promtool check metrics` on `exposition`; its complaints on failure.
pub fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("expected to run promtool (Debian's prometheus package): {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("exposition written");
    let out = child.wait_with_output().expect("promtool ran");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A Prometheus server on loopback scraping one target every second, killed on drop.
pub struct Prometheus {
    child: Child,
    /// Where its HTTP API listens.
    pub addr: SocketAddr,
    log: std::path::PathBuf,
    _dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus with its own config and storage in a temp dir, scraping `target`.
    pub fn scraping(target: SocketAddr) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.write(
            "prometheus.yml",
            &format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: dns-server\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        );
        let storage = dir.path().join("data");
        let log = dir.path().join("prometheus.log");
        let (child, port) = spawn_on_free_port(
            "prometheus",
            &log,
            |port| {
                let mut command = Command::new("prometheus");
                command
                    .arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", storage.display()))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"));
                command
            },
            |port| {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/-/ready", None).status == 200
            },
        );
        Prometheus {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            _dir: dir,
        }
    }

    /// The result of an instant query: each series' labels and value.
    pub fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let path = format!("/api/v1/query?query={}", encode_query(expr));
        let response = http_get(self.addr, &path, None);
        let json: serde_json::Value = serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("expected JSON from the query API for {expr}: {e}: {response:?}"));
        let results = json["data"]["result"].as_array().cloned().unwrap_or_default();
        results
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = r["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
                (labels, value)
            })
            .collect()
    }

    /// Polls `expr` until `done` holds for its result or `limit` passes; returns the last result.
    pub fn wait_for(
        &self,
        expr: &str,
        limit: Duration,
        done: impl Fn(&[(BTreeMap<String, String>, f64)]) -> bool,
    ) -> Vec<(BTreeMap<String, String>, f64)> {
        let start = Instant::now();
        loop {
            let result = self.query(expr);
            if done(&result) {
                return result;
            }
            if start.elapsed() > limit {
                panic!(
                    "expected Prometheus to have {expr} within {limit:?}; last result {result:?}; targets: {}; its log:\n{}",
                    http_get(self.addr, "/api/v1/targets", None).body,
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Percent-encodes a PromQL expression for a query string.
fn encode_query(expr: &str) -> String {
    expr.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The deploy/ files of the alert rules: the server's and the sidecar's.
pub fn alert_rules_paths() -> [std::path::PathBuf; 2] {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
    [dir.join("dns-server-alerts.yml"), dir.join("dns-sidecar-alerts.yml")]
}

/// Every PromQL expression that reads the server's metrics in deploy/: its
/// alert rules' `expr`s and the Grafana dashboard's queries, each with where it is.
pub fn deploy_queries() -> Vec<(String, String)> {
    let [server, _] = alert_rules_paths();
    let mut found = rule_queries(&server);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dns-server.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).expect("the dashboard")).expect("the dashboard is JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default();
            found.push((
                format!("dashboard panel {title:?}"),
                target["expr"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(query) = variable["query"]["query"].as_str() {
            found.push(("dashboard variable".to_string(), query.to_string()));
        }
    }
    found
}

/// The `expr`s of an alert rules file, with its path.
pub fn rule_queries(path: &std::path::Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let rules = fs::read_to_string(path).unwrap_or_else(|e| panic!("expected to read {}: {e}", path.display()));
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(expr) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let mut text = expr.trim().to_string();
        if text == "|" || text == ">" {
            text.clear();
            while let Some(next) = lines
                .peek()
                .filter(|l| l.len() - l.trim_start().len() > indent || l.trim().is_empty())
            {
                text.push_str(next.trim());
                text.push(' ');
                lines.next();
            }
        }
        found.push((path.display().to_string(), text));
    }
    found
}

/// The metric names an expression reads: `dns_server_*` names and `up`.
pub fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        let word: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        rest = &rest[at + word.len()..];
        // A label's value is in quotes; a label name is followed by `=`, `!`, `~`.
        let quoted = expr[..expr.len() - rest.len() - word.len()].matches('"').count() % 2 == 1;
        if !quoted && (word.starts_with("dns_server_") || word == "up") {
            names.push(word);
        }
    }
    names
}

/// Panics unless every query in deploy/ that reads the server reads at
/// least one metric and only metrics that `exposition` (a scrape with every
/// family present) has.
pub fn assert_deploy_queries_name_only(exposition: &str) {
    let queries = deploy_queries();
    assert!(
        queries.len() > 10,
        "expected the rules and the dashboard to hold queries, found {queries:?}"
    );
    assert_queries_name_only(&queries, exposition);
}

/// Panics unless each of `queries` reads at least one metric and only
/// metrics that `exposition` has.
pub fn assert_queries_name_only(queries: &[(String, String)], exposition: &str) {
    assert!(!queries.is_empty(), "expected queries to check");
    let exported: std::collections::BTreeSet<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    for (source, expr) in queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{source}: {expr:?} reads no dns_server_* metric");
        for name in names {
            assert!(
                name == "up" || exported.contains(name.as_str()),
                "{source}: {expr:?} reads {name}, which the server does not export; it exports {exported:?}"
            );
        }
    }
}
