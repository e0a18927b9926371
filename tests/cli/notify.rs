//! Telling people, through the binary against `sim serve`: webhook bodies received by a local HTTP server
//! (the first post answered 503, so the retry shows), and `/metrics` scraped while the run is live.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent::SimCluster;
use crate::support::{stderr, stdout};

const POLICY: &str =
    "    to: latest-patch\n    batch: 1\n    batch_soak: 5s\n    pool_soak: 10s\n    drain_timeout: 10m\n";

/// A webhook receiver: records each POST's JSON body; answers 503 to the first, 200 to the others.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((first, body))
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hooks/poolshift", listener.local_addr().expect("addr"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            let mut posts = 0;
            for mut stream in listener.incoming().flatten() {
                while let Some((first, body)) = read_request(&mut stream) {
                    assert!(first.starts_with("POST /hooks/poolshift "), "{first}");
                    posts += 1;
                    let answer = if posts == 1 {
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                    } else {
                        let v: Value = serde_json::from_slice(&body).expect("a JSON body");
                        seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(v);
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    };
                    if stream.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        Receiver { url, bodies }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The value of the sample `name` (no labels, or exactly these) in OpenMetrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn webhooks_receive_the_run_and_metrics_are_served_while_it_is_live() {
    let receiver = Receiver::start();
    let cluster = SimCluster::start(POLICY);
    let text = std::fs::read_to_string(&cluster.config).expect("config");
    let text = text.replacen(
        "pools:",
        "notify:\n  webhooks:\n    - {url_env: TEST_WEBHOOK_URL, events: [started, batch_done, done]}\npools:",
        1,
    );
    std::fs::write(&cluster.config, text).expect("config");

    // Without its variable the webhook is a configuration error: refused before anything changes.
    let o = cluster.run("upgrade", &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("sends notifications to the webhook in $TEST_WEBHOOK_URL, which is not set"),
        "{}",
        stderr(&o)
    );
    assert_eq!(cluster.pools(), vec!["blue".to_string()]);

    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = crate::support::poolshift();
    cmd.args(["upgrade", "-c"]).arg(&cluster.config).args(["--yes", "--metrics-addr", &addr]);
    cmd.env("TEST_WEBHOOK_URL", &receiver.url);
    let agent = crate::support::Agent::spawn(cmd);
    // Scrape while the run is live, until pods have moved.
    let start = Instant::now();
    let scraped = loop {
        if let Some(answer) = get(&addr, "/metrics")
            && sample(&answer, "poolshift_pods_moved_total").is_some_and(|n| n >= 1.0)
        {
            break answer;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no metrics with pods moved at {addr}:\n{}", agent.seen);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(scraped.starts_with("HTTP/1.1 200 OK"), "{scraped}");
    assert!(scraped.contains("content-type: application/openmetrics-text"), "{scraped}");
    for name in [
        "poolshift_run_phase{phase=\"Draining\"}",
        "poolshift_batches",
        "poolshift_pods_waiting",
        "poolshift_blockers",
        "poolshift_paused",
        "poolshift_evictions_total{answer=\"evicted\"}",
    ] {
        assert!(sample(&scraped, name).is_some(), "{name} missing:\n{scraped}");
    }
    assert_eq!(sample(&scraped, "poolshift_batches"), Some(4.0), "{scraped}");
    let not_found = get(&addr, "/").expect("an answer");
    assert!(not_found.starts_with("HTTP/1.1 404"), "{not_found}");
    let (code, out, err) = agent.finish();
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(get(&addr, "/metrics").is_none(), "the endpoint stops with the run");

    // The receiver got what the webhook subscribed to, in order (the 503 was retried).
    let bodies = receiver.bodies();
    let events: Vec<&str> = bodies.iter().map(|b| b["poolshift"]["event"].as_str().unwrap_or("")).collect();
    assert_eq!(events, ["started", "batch_done", "batch_done", "batch_done", "batch_done", "done"], "{bodies:?}");
    let text = bodies[0]["text"].as_str().expect("text");
    assert!(
        text.starts_with("poolshift cli-test/blue: run blue-") && text.ends_with(" started: 1.31.1 -> 1.31.4"),
        "{text}"
    );
    assert_eq!(bodies[0]["poolshift"]["cluster"], "cli-test");
    assert_eq!(bodies[0]["poolshift"]["pool"], "blue");
    cluster.assert_invariants();
}
