//! Watch: newline-delimited JSON events, from a resourceVersion (replayed from history) or from now (with
//! the current objects as ADDED), with bookmarks, `timeoutSeconds`, and fault-injected stream cuts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use tokio::sync::{broadcast, mpsc};

use super::Body;
use super::handlers::{Ctx, Filter};
use crate::error::ApiError;
use crate::store::{EventType, Kind, WatchEvent};

/// Simulated interval between bookmarks, as the apiserver sends them (about once a minute).
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

pub fn watch<K: Kind>(ctx: &Ctx<'_>, ns: Option<&str>) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query::<K>(ctx.query)?;
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let send_initial = ctx.query.flag("sendInitialEvents");
    let timeout = match ctx.query.get("timeoutSeconds") {
        Some(t) => Some(Duration::from_secs(
            t.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t}")))?,
        )),
        None => None,
    };
    let rv_param = ctx.query.get("resourceVersion").map(str::to_string);
    let store = ctx.server.store.clone();
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let ns = ns.map(str::to_string);
    let in_ns = move |o: &K| ns.as_deref().is_none_or(|n| o.metadata().namespace.as_deref() == Some(n));

    let (initial, mut sub, start_rv, cut_after) = {
        let st = store.lock();
        let table = K::table(&st);
        let sub = table.subscribe();
        let cut_after = st.faults.watch_cut_after();
        let start_rv = st.resource_version();
        let initial: Result<Vec<(EventType, Arc<K>)>, ApiError> = match rv_param.as_deref() {
            None | Some("0") => Ok(table
                .iter()
                .filter(|o| in_ns(o) && filter.matches(o.as_ref()))
                .map(|o| (EventType::Added, o.clone()))
                .collect()),
            Some(rv) if send_initial => {
                let _ = rv;
                Ok(table
                    .iter()
                    .filter(|o| in_ns(o) && filter.matches(o.as_ref()))
                    .map(|o| (EventType::Added, o.clone()))
                    .collect())
            }
            Some(rv) => {
                let rv: u64 =
                    rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
                match table.events_since(rv) {
                    Some(evs) => Ok(evs.into_iter().filter_map(|e| visible(&e, &filter, &in_ns)).collect()),
                    None => Err(ApiError::gone(format!("too old resource version: {rv} ({})", st.resource_version()))),
                }
            }
        };
        (initial, sub, start_rv, cut_after)
    };
    let clock = store.clock().clone();
    tokio::spawn(async move {
        let initial = match initial {
            Ok(i) => i,
            Err(e) => {
                // Upstream answers 200 and sends the 410 as an ERROR event.
                let line = format!("{{\"type\":\"ERROR\",\"object\":{}}}\n", e.to_status());
                let _ = tx.send(Bytes::from(line)).await;
                return;
            }
        };
        for (ty, o) in initial {
            if tx.send(event_line(ty.as_str(), o.as_ref())).await.is_err() {
                return;
            }
        }
        if send_initial {
            let bm = bookmark::<K>(start_rv, true);
            if tx.send(bm).await.is_err() {
                return;
            }
        }
        let mut last_rv = start_rv;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + clock.to_real(t));
        let cut = cut_after.map(|t| tokio::time::Instant::now() + clock.to_real(t));
        let end = match (deadline, cut) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut tick = tokio::time::interval(clock.to_real(BOOKMARK_EVERY));
        tick.tick().await;
        loop {
            let sleep_end = async {
                match end {
                    Some(e) => tokio::time::sleep_until(e).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = sub.recv() => match ev {
                    Ok(e) => {
                        last_rv = e.rv;
                        if let Some((ty, o)) = visible(&e, &filter, &in_ns)
                            && tx.send(event_line(ty.as_str(), o.as_ref())).await.is_err()
                        {
                            return;
                        }
                    }
                    // Too slow a reader, or the store is gone: end the stream; the client re-watches.
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick(), if bookmarks => {
                    if tx.send(bookmark::<K>(last_rv, false)).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
                _ = sleep_end => return,
            }
        }
    });
    let mut r = Response::new(Body::Stream(rx));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    Ok(r)
}

/// How a store event looks to a watcher with this filter: an object that starts matching is ADDED, one that
/// stops matching is DELETED.
fn visible<K: Kind>(e: &WatchEvent<K>, filter: &Filter, in_ns: &impl Fn(&K) -> bool) -> Option<(EventType, Arc<K>)> {
    let now = in_ns(&e.object) && filter.matches(e.object.as_ref());
    match e.ty {
        EventType::Added | EventType::Deleted => now.then(|| (e.ty, e.object.clone())),
        EventType::Modified => {
            let before = e.prev.as_ref().is_some_and(|p| in_ns(p) && filter.matches(p.as_ref()));
            match (before, now) {
                (true, true) => Some((EventType::Modified, e.object.clone())),
                (false, true) => Some((EventType::Added, e.object.clone())),
                (true, false) => Some((EventType::Deleted, e.object.clone())),
                (false, false) => None,
            }
        }
    }
}

fn event_line<K: Kind>(ty: &str, o: &K) -> Bytes {
    let mut buf = Vec::with_capacity(1024);
    buf.extend_from_slice(format!("{{\"type\":\"{ty}\",\"object\":").as_bytes());
    if serde_json::to_writer(&mut buf, o).is_err() {
        buf.extend_from_slice(b"{}");
    }
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

fn bookmark<K: Kind>(rv: u64, initial_end: bool) -> Bytes {
    let mut meta = serde_json::json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = serde_json::json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = serde_json::json!({"kind": K::KIND, "apiVersion": K::API_VERSION, "metadata": meta});
    Bytes::from(format!("{{\"type\":\"BOOKMARK\",\"object\":{obj}}}\n"))
}
