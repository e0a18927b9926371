//! The Lease lock: one agent per pool, takeover after expiry, renew and release.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use poolshift::kube::LeaseLock;
use poolshift::ports::{Clock, Lock, LockError};
use poolshift::time::TokioClock;

use super::sim;

fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap(), 1.0))
}

async fn lease(client: &kube::Client) -> Lease {
    let api: Api<Lease> = Api::namespaced(client.clone(), "poolshift-system");
    api.get("poolshift-demo-blue").await.unwrap()
}

fn holder(l: &Lease) -> Option<String> {
    l.spec.as_ref().and_then(|s| s.holder_identity.clone())
}

#[tokio::test(start_paused = true)]
async fn second_agent_is_refused_until_the_lease_expires() {
    let sim = sim();
    let client = sim.client();
    let clock = clock();
    let a = LeaseLock::new(client.clone(), "demo", "blue", clock.clone());
    let b = LeaseLock::new(client.clone(), "demo", "blue", clock.clone());

    assert_eq!(a.acquire("agent-a").await.unwrap(), None, "a free lease is taken over from nobody");
    let l = lease(&client).await;
    let spec = l.spec.clone().unwrap();
    assert_eq!(holder(&l).as_deref(), Some("agent-a"));
    assert_eq!(spec.lease_duration_seconds, Some(30));
    assert_eq!(spec.lease_transitions, Some(0));
    assert_eq!(spec.acquire_time.unwrap().0.to_string(), "2026-01-01T00:00:00Z");
    // Acquiring again with the same identity (a restarted agent) is fine.
    a.acquire("agent-a").await.unwrap();

    tokio::time::advance(Duration::from_secs(10)).await;
    let err = b.acquire("agent-b").await.unwrap_err();
    match &err {
        LockError::Held { pool, holder, age, expires_at } => {
            assert_eq!((pool.as_str(), holder.as_str()), ("blue", "agent-a"));
            assert_eq!(*age, Duration::from_secs(10));
            assert_eq!(expires_at.map(|t| t.to_string()).as_deref(), Some("2026-01-01T00:00:30Z"));
        }
        other => panic!("expected Held, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("held by agent agent-a") && msg.contains("renewed 10s ago"), "{msg}");
    assert!(msg.contains("expires at 2026-01-01T00:00:30Z"), "{msg}");
    let read = b.holder().await.unwrap().expect("held");
    assert_eq!((read.holder.as_str(), read.ttl), ("agent-a", Duration::from_secs(30)));
    assert_eq!(read.since.map(|t| t.to_string()).as_deref(), Some("2026-01-01T00:00:00Z"));

    // Renewal keeps it: 25 s after the renewal it is still held.
    a.renew("agent-a").await.unwrap();
    tokio::time::advance(Duration::from_secs(25)).await;
    assert!(matches!(b.acquire("agent-b").await, Err(LockError::Held { age, .. }) if age == Duration::from_secs(25)));
    // At exactly renewTime + duration it has not expired yet; one second later it has.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(matches!(b.acquire("agent-b").await, Err(LockError::Held { .. })));
    tokio::time::advance(Duration::from_secs(1)).await;
    let previous = b.acquire("agent-b").await.unwrap().expect("took over an expired lease");
    assert_eq!(previous.holder, "agent-a");
    assert_eq!(previous.expires_at().map(|t| t.to_string()).as_deref(), Some("2026-01-01T00:00:40Z"));
    let l = lease(&client).await;
    assert_eq!(holder(&l).as_deref(), Some("agent-b"));
    assert_eq!(l.spec.as_ref().unwrap().lease_transitions, Some(1));

    // The old holder finds out at its next renewal, and cannot release someone else's lease.
    let err = a.renew("agent-a").await.unwrap_err();
    assert!(matches!(&err, LockError::Lost { message, .. } if message.contains("agent-b")), "{err}");
    a.release("agent-a").await.unwrap();
    assert_eq!(holder(&lease(&client).await).as_deref(), Some("agent-b"));
    assert!(matches!(a.acquire("agent-a").await, Err(LockError::Held { .. })));
}

#[tokio::test(start_paused = true)]
async fn release_lets_the_next_agent_in_at_once() {
    let sim = sim();
    let client = sim.client();
    let clock = clock();
    let a = LeaseLock::new(client.clone(), "demo", "blue", clock.clone()).with_ttl(Duration::from_secs(120));
    let b = LeaseLock::new(client.clone(), "demo", "blue", clock.clone());
    a.acquire("agent-a").await.unwrap();
    assert_eq!(lease(&client).await.spec.unwrap().lease_duration_seconds, Some(120));
    a.release("agent-a").await.unwrap();
    assert_eq!(holder(&lease(&client).await), None);
    assert_eq!(a.holder().await.unwrap(), None);
    let err = a.renew("agent-a").await.unwrap_err();
    assert!(matches!(err, LockError::Lost { .. }), "{err}");
    b.acquire("agent-b").await.unwrap();
    let l = lease(&client).await;
    assert_eq!(holder(&l).as_deref(), Some("agent-b"));
    assert_eq!(l.spec.as_ref().unwrap().lease_transitions, Some(1));
    // A lease that is gone altogether is lost too.
    let api: Api<Lease> = Api::namespaced(client.clone(), "poolshift-system");
    api.delete("poolshift-demo-blue", &Default::default()).await.unwrap();
    assert!(matches!(b.renew("agent-b").await, Err(LockError::Lost { .. })));
    b.release("agent-b").await.unwrap();
}

/// Two agents racing for a free lease: exactly one gets it (create and replace are compare-and-swap).
#[tokio::test(start_paused = true)]
async fn racing_agents_get_one_lease() {
    let sim = sim();
    let client = sim.client();
    let clock = clock();
    let locks: Vec<Arc<LeaseLock>> =
        (0..4).map(|_| Arc::new(LeaseLock::new(client.clone(), "demo", "blue", clock.clone()))).collect();
    let tasks: Vec<_> = locks
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.clone();
            tokio::spawn(async move { l.acquire(&format!("agent-{i}")).await })
        })
        .collect();
    let mut won = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(_) => won.push(format!("agent-{i}")),
            Err(LockError::Held { .. }) => {}
            Err(e) => panic!("agent-{i}: {e}"),
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(holder(&lease(&client).await), Some(won[0].clone()));
}
