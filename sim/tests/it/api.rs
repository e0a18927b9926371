//! The generic API surface: CRUD, optimistic concurrency, selectors, pagination, watch, patch, Status bodies.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};

use crate::support::{namespace, sim};

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn crud_conflict_and_status_bodies() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let created = api.create(&PostParams::default(), &cm("a", serde_json::json!({"app": "web"}))).await.unwrap();
    assert!(created.metadata.uid.is_some());
    let rv = created.metadata.resource_version.clone().unwrap();

    // Duplicate create: 409 AlreadyExists.
    let err = api.create(&PostParams::default(), &cm("a", serde_json::json!({}))).await.unwrap_err();
    let kube::Error::Api(s) = err else { panic!("not an API error") };
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(s.message, "configmaps \"a\" already exists");

    // Update with the current resourceVersion succeeds, a stale one is a 409 Conflict.
    let mut next = created.clone();
    next.data = Some([("k".to_string(), "v2".to_string())].into());
    let updated = api.replace("a", &PostParams::default(), &next).await.unwrap();
    assert_ne!(updated.metadata.resource_version.as_deref(), Some(rv.as_str()));
    let err = api.replace("a", &PostParams::default(), &next).await.unwrap_err();
    let kube::Error::Api(s) = err else { panic!() };
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(s.message.contains("the object has been modified"), "{}", s.message);

    // A metadata-only GET (Accept as=PartialObjectMetadata) answers the metadata under meta.k8s.io's kind.
    let req = http::Request::get("/api/v1/namespaces/shop/configmaps/a")
        .header("Accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json")
        .body(Vec::new())
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    assert_eq!(
        (body["kind"].as_str(), body["apiVersion"].as_str()),
        (Some("PartialObjectMetadata"), Some("meta.k8s.io/v1"))
    );
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(body["metadata"]["resourceVersion"].as_str(), updated.metadata.resource_version.as_deref());
    let meta = api.get_metadata("a").await.unwrap();
    assert_eq!(meta.metadata.uid, created.metadata.uid);

    // Missing: 404 with upstream's message. Namespace missing: 404 on the namespace.
    let err = api.get("nope").await.unwrap_err();
    let kube::Error::Api(s) = err else { panic!() };
    assert_eq!((s.code, s.message.as_str()), (404, "configmaps \"nope\" not found"));
    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "ghost");
    let kube::Error::Api(s) =
        missing.create(&PostParams::default(), &cm("x", serde_json::json!({}))).await.unwrap_err()
    else {
        panic!()
    };
    assert_eq!((s.code, s.message.as_str()), (404, "namespaces \"ghost\" not found"));

    // Delete with a wrong UID precondition: 409; then delete for real.
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions { uid: Some("other".into()), resource_version: None }),
        ..Default::default()
    };
    let kube::Error::Api(s) = api.delete("a", &dp).await.unwrap_err() else { panic!() };
    assert_eq!(s.code, 409);
    api.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("a").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn selectors_and_pagination() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    for i in 0..25 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        api.create(&PostParams::default(), &cm(&format!("cm-{i:02}"), serde_json::json!({"tier": tier})))
            .await
            .unwrap();
    }
    let web = api.list(&ListParams::default().labels("tier=web")).await.unwrap();
    assert_eq!(web.items.len(), 13);
    let by_name = api.list(&ListParams::default().fields("metadata.name=cm-03")).await.unwrap();
    assert_eq!(by_name.items.len(), 1);
    let kube::Error::Api(s) = api.list(&ListParams::default().fields("spec.nodeName=x")).await.unwrap_err() else {
        panic!()
    };
    assert_eq!((s.code, s.message.as_str()), (400, "field label not supported: spec.nodeName"));

    // Pages of 10: 10, 10, 5, with continue tokens, no duplicates.
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(10);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 25);
    names.dedup();
    assert_eq!(names.len(), 25);
}

#[tokio::test(start_paused = true)]
async fn watch_from_resource_version_and_selector_transitions() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    api.create(&PostParams::default(), &cm("a", serde_json::json!({"tier": "web"}))).await.unwrap();
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api.watch(&WatchParams::default().labels("tier=web"), &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("b", serde_json::json!({"tier": "web"}))).await.unwrap();
    api.create(&PostParams::default(), &cm("c", serde_json::json!({"tier": "db"}))).await.unwrap();
    // Relabel b out of the selector: the watcher sees it DELETED.
    api.patch("b", &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"labels": {"tier": "db"}}})))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.metadata.name.unwrap())),
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.metadata.name.unwrap())),
            WatchEvent::Modified(o) => seen.push(format!("MODIFIED {}", o.metadata.name.unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, vec!["ADDED b", "DELETED b"]);
}

#[tokio::test(start_paused = true)]
async fn strategic_merge_cordon_and_discovery() {
    let sim = sim();
    let client = sim.client();
    let nodes: Api<Node> = Api::all(client.clone());
    let n: Node = serde_json::from_value(serde_json::json!({"metadata": {"name": "n1"}})).unwrap();
    nodes.create(&PostParams::default(), &n).await.unwrap();
    let patched = nodes
        .patch("n1", &PatchParams::default(), &Patch::Strategic(serde_json::json!({"spec": {"unschedulable": true}})))
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().unschedulable, Some(true));
    let v = client.apiserver_version().await.unwrap();
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "31"));
    let res = client.list_core_api_resources("v1").await.unwrap();
    let ev = res.resources.iter().find(|r| r.name == "pods/eviction").expect("pods/eviction advertised");
    assert_eq!(
        (ev.group.as_deref(), ev.version.as_deref(), ev.kind.as_str()),
        (Some("policy"), Some("v1"), "Eviction")
    );
}
