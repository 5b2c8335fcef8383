//! What every run must hold once a fault is over: the cluster dumped as a `kind: List` (every
//! run and artifact), read by the same loader `evaluate` uses, decided by `evaluate` at the
//! time of the dump, and compared with the conditions the runs hold.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::Client;
use kube::api::ListParams;
use operationrun_core::decide::Config;
use operationrun_core::{evaluate, manifests};
use serde_json::{Value, json};

use super::fleet::api_all;
use super::harness::Pod;

/// A run's key: (namespace, name).
pub type Key = (String, String);

/// The fields of a controller-owned condition that carry the verdict (messages, times and
/// generations aside).
pub fn verdict(condition: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for field in ["type", "status", "reason", "adapter", "previousPhase"] {
        if let Some(v) = condition.get(field).filter(|v| !v.is_null()) {
            out.insert(field.to_string(), v.clone());
        }
    }
    if let Some(Value::Array(related)) = condition.get("relatedArtifacts") {
        let refs: Vec<Value> = related
            .iter()
            .map(|r| json!({"kind": r["kind"], "name": r["name"], "uid": r["uid"]}))
            .collect();
        out.insert("relatedArtifacts".into(), Value::Array(refs));
    }
    Value::Object(out)
}

/// The controller-owned conditions (Stale, Reconciled) of a list of conditions, as verdicts,
/// Stale first.
pub fn owned(conditions: &Value) -> Vec<Value> {
    let mut list: Vec<Value> = conditions
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "Stale" || c["type"] == "Reconciled")
        .map(verdict)
        .collect();
    list.sort_by_key(|c| c["type"] != "Stale");
    list
}

/// The cluster at one moment, and what `evaluate` says of it.
pub struct Dump {
    /// The time `evaluate` decided at (just after the runs were read).
    pub at: Timestamp,
    /// The controller-owned conditions each run holds.
    pub held: BTreeMap<Key, Vec<Value>>,
    /// What `evaluate` gives each run.
    pub expected: BTreeMap<Key, Vec<Value>>,
}

impl Dump {
    /// Runs that do not hold what `evaluate` gives, described.
    pub fn mismatches(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, want) in &self.expected {
            let got = self.held.get(key).cloned().unwrap_or_default();
            if &got != want {
                out.push(format!(
                    "{}/{}: holds {}\n      evaluate gives {}",
                    key.0,
                    key.1,
                    Value::Array(got),
                    Value::Array(want.clone())
                ));
            }
        }
        out
    }

    /// How many runs hold a `Reconciled` condition.
    pub fn decided(&self) -> usize {
        self.held
            .values()
            .filter(|c| c.iter().any(|c| c["type"] == "Reconciled"))
            .count()
    }

    /// How many runs hold `Stale=True`.
    pub fn stale(&self) -> usize {
        self.held
            .values()
            .filter(|c| {
                c.iter()
                    .any(|c| c["type"] == "Stale" && c["status"] == "True")
            })
            .count()
    }

    /// Count of held `Reconciled` reasons.
    pub fn reasons(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in self.held.values().flatten() {
            if c["type"] == "Reconciled" {
                let reason = c["reason"].as_str().unwrap_or("?").to_string();
                *out.entry(reason).or_insert(0) += 1;
            }
        }
        out
    }
}

/// Lists every object of `kind` as the admin, with `apiVersion` and `kind` set on each item.
async fn list(admin: &Client, kind: &str) -> Result<Vec<Value>, String> {
    let items = api_all(admin, kind)
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing {kind}: {e}"))?
        .items;
    items
        .into_iter()
        .map(|o| {
            let mut v = serde_json::to_value(&o).map_err(|e| e.to_string())?;
            v["apiVersion"] = json!("ops.tenantatlas.io/v1alpha1");
            v["kind"] = json!(kind);
            Ok(v)
        })
        .collect()
}

/// Dumps the cluster into a `kind: List` file and evaluates it at the time of the dump.
pub async fn dump(admin: &Client) -> Result<Dump, String> {
    let runs = list(admin, "OperationRun").await?;
    let at = Timestamp::now();
    let mut items = runs.clone();
    items.extend(list(admin, "BackupSet").await?);
    items.extend(list(admin, "BaselineSnapshot").await?);
    let file = tempfile::Builder::new()
        .prefix("oprun-faults-dump-")
        .suffix(".json")
        .tempfile()
        .map_err(|e| e.to_string())?;
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(file.path(), list.to_string()).map_err(|e| e.to_string())?;
    let loaded =
        manifests::load(&[file.path().to_path_buf()]).map_err(|e| format!("evaluate: {e}"))?;
    let expected = evaluate::evaluate(&loaded, at, &Config::default())
        .into_iter()
        .map(|(entry, _)| {
            let conditions = serde_json::to_value(&entry.conditions).unwrap_or(Value::Null);
            ((entry.namespace, entry.name), owned(&conditions))
        })
        .collect();
    let held = runs
        .iter()
        .map(|r| {
            let key = (
                r["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            (key, owned(&r["status"]["conditions"]))
        })
        .collect();
    Ok(Dump { at, held, expected })
}

/// Waits until every run holds what `evaluate` gives (polling every 250 ms), keeping the
/// controller pods running meanwhile. Returns how long it took and the matching dump;
/// fails after `within` with the runs that still differ.
pub async fn converge(
    admin: &Client,
    pods: &mut [&mut Pod],
    within: Duration,
) -> Result<(Duration, Dump), String> {
    let started = Instant::now();
    let mut last_at = None;
    loop {
        for pod in pods.iter_mut() {
            pod.keep_running().await;
        }
        let mut last = match dump(admin).await {
            Ok(d) => {
                let mismatches = d.mismatches();
                if mismatches.is_empty() {
                    return Ok((started.elapsed(), d));
                }
                last_at = Some(d.at);
                mismatches
            }
            Err(e) => vec![e],
        };
        if started.elapsed() >= within {
            let n = last.len();
            last.truncate(12);
            return Err(format!(
                "{n} runs do not hold what evaluate gives after {within:?} (evaluated at {}):\n    {}",
                last_at.map(|t| t.to_string()).unwrap_or_default(),
                last.join("\n    ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
