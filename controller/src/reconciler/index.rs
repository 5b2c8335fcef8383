//! The artifact stores: every BackupSet and BaselineSnapshot, indexed by the run it claims
//! (namespace, run name), kept up to date by one watch per kind. kube-runtime's reflector
//! has no secondary index, so this is the store: a reconcile reads it and makes no call.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use kube::runtime::watcher;
use operationrun_crds::{BackupSet, BaselineSnapshot, Parsed, RunRef, Salvage};

use super::lenient::Lenient;
use operationrun_core::decide::ArtifactKind;

type RunKey = (String, String);

/// Kinds whose objects claim a run through `spec.operationRunRef`.
pub trait Claiming: Salvage + kube::Resource + Send + Sync + 'static {
    /// The run reference, if the object has one.
    fn run_ref(&self) -> Option<&RunRef>;
}

impl Claiming for BackupSet {
    fn run_ref(&self) -> Option<&RunRef> {
        self.spec.operation_run_ref.as_ref()
    }
}

impl Claiming for BaselineSnapshot {
    fn run_ref(&self) -> Option<&RunRef> {
        self.spec.operation_run_ref.as_ref()
    }
}

#[derive(Default)]
struct Entries<K> {
    by_run: HashMap<RunKey, BTreeMap<String, Arc<Parsed<K>>>>,
    claim_of: HashMap<RunKey, String>,
}

impl<K> Entries<K> {
    /// Inserts or replaces an artifact; returns the run it claimed before, if different.
    fn apply(
        &mut self,
        ns: &str,
        name: &str,
        run: Option<String>,
        object: Arc<Parsed<K>>,
    ) -> Option<String> {
        let key = (ns.to_string(), name.to_string());
        let previous = self.remove(ns, name);
        if let Some(run) = run {
            self.by_run
                .entry((ns.to_string(), run.clone()))
                .or_default()
                .insert(name.to_string(), object);
            self.claim_of.insert(key, run.clone());
            previous.filter(|p| *p != run)
        } else {
            previous
        }
    }

    /// Removes an artifact; returns the run it claimed.
    fn remove(&mut self, ns: &str, name: &str) -> Option<String> {
        let run = self.claim_of.remove(&(ns.to_string(), name.to_string()))?;
        let key = (ns.to_string(), run.clone());
        if let Some(set) = self.by_run.get_mut(&key) {
            set.remove(name);
            if set.is_empty() {
                self.by_run.remove(&key);
            }
        }
        Some(run)
    }
}

/// The store of one artifact kind.
pub struct KindIndex<K> {
    live: RwLock<Entries<K>>,
    relist: RwLock<Option<Entries<K>>>,
    synced: AtomicBool,
    /// Runs that need this kind and wait for its first list; looked at again when it ends.
    waiting: Mutex<HashSet<RunKey>>,
}

impl<K> Default for KindIndex<K> {
    fn default() -> Self {
        KindIndex {
            live: RwLock::new(Entries {
                by_run: HashMap::new(),
                claim_of: HashMap::new(),
            }),
            relist: RwLock::new(None),
            synced: AtomicBool::new(false),
            waiting: Mutex::new(HashSet::new()),
        }
    }
}

/// An artifact read from the watch: where it lives, the run it claims, and its contents.
struct Read<K> {
    ns: String,
    name: String,
    run: Option<String>,
    parsed: Arc<Parsed<K>>,
}

fn convert<K: Claiming + Clone>(object: &Lenient<K>) -> Option<Read<K>> {
    let parsed = &object.0;
    let meta = kube::Resource::meta(&parsed.object);
    let ns = meta.namespace.clone()?;
    let name = meta.name.clone()?;
    let run = parsed
        .object
        .run_ref()
        .map(|r| r.name.clone())
        .filter(|n| !n.is_empty());
    Some(Read {
        ns,
        name,
        run,
        parsed: Arc::new(parsed.clone()),
    })
}

impl<K: Claiming + Clone> KindIndex<K> {
    /// Whether the initial list has completed: before that, an empty store is not "no evidence".
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Registers run `ns/name` to be looked at again when this kind's first list ends;
    /// false when it has ended already (the run need not wait).
    pub fn wait(&self, ns: &str, name: &str) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_synced() {
            return false;
        }
        waiting.insert((ns.to_string(), name.to_string()));
        true
    }

    /// The artifacts claiming run `ns/name`, by artifact name.
    pub fn claims(&self, ns: &str, name: &str) -> Vec<Arc<Parsed<K>>> {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        live.by_run
            .get(&(ns.to_string(), name.to_string()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Applies one watch event; returns the runs (namespace, name) to look at again.
    pub fn handle(&self, event: &watcher::Event<Lenient<K>>) -> Vec<RunKey> {
        let mut touched = Vec::new();
        match event {
            watcher::Event::Init => {
                *self.relist.write().unwrap_or_else(|e| e.into_inner()) = Some(Entries {
                    by_run: HashMap::new(),
                    claim_of: HashMap::new(),
                });
            }
            watcher::Event::InitApply(object) => {
                if let Some(Read {
                    ns,
                    name,
                    run,
                    parsed,
                }) = convert::<K>(object)
                {
                    let mut relist = self.relist.write().unwrap_or_else(|e| e.into_inner());
                    if let Some(entries) = relist.as_mut() {
                        entries.apply(&ns, &name, run, parsed);
                    }
                }
            }
            watcher::Event::InitDone => {
                let fresh = self
                    .relist
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                if let Some(fresh) = fresh {
                    let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
                    // every run claimed before or after the re-list may have a new answer
                    touched.extend(live.by_run.keys().cloned());
                    touched.extend(fresh.by_run.keys().cloned());
                    *live = fresh;
                }
                self.synced.store(true, Ordering::Release);
                // after the flag, under the lock `wait` takes: no waiting run is missed
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                touched.extend(waiting.drain());
            }
            watcher::Event::Apply(object) => {
                if let Some(Read {
                    ns,
                    name,
                    run,
                    parsed,
                }) = convert::<K>(object)
                {
                    let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
                    if let Some(old) = live.apply(&ns, &name, run.clone(), parsed) {
                        touched.push((ns.clone(), old));
                    }
                    if let Some(run) = run {
                        touched.push((ns, run));
                    }
                }
            }
            watcher::Event::Delete(object) => {
                let meta = kube::Resource::meta(&object.0.object);
                if let (Some(ns), Some(name)) = (&meta.namespace, &meta.name) {
                    let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
                    if let Some(run) = live.remove(ns, name) {
                        touched.push((ns.clone(), run));
                    }
                }
            }
        }
        touched.sort();
        touched.dedup();
        touched
    }
}

/// Both artifact stores of one watch scope.
#[derive(Default)]
pub struct ArtifactIndex {
    /// BackupSets by claimed run.
    pub backup_sets: KindIndex<BackupSet>,
    /// BaselineSnapshots by claimed run.
    pub baseline_snapshots: KindIndex<BaselineSnapshot>,
}

impl ArtifactIndex {
    /// Both stores have completed their initial list.
    pub fn is_synced(&self) -> bool {
        self.backup_sets.is_synced() && self.baseline_snapshots.is_synced()
    }

    /// Registers run `ns/name`, whose family is proven by artifacts of `kind`, to wait for
    /// that kind's first list; false when the store is synced and the run may be decided.
    pub fn wait_for(&self, kind: ArtifactKind, ns: &str, name: &str) -> bool {
        match kind {
            ArtifactKind::BackupSet => self.backup_sets.wait(ns, name),
            ArtifactKind::BaselineSnapshot => self.baseline_snapshots.wait(ns, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_waiting_for_a_kind_is_looked_at_again_when_it_syncs() {
        let index = ArtifactIndex::default();
        assert!(index.wait_for(ArtifactKind::BackupSet, "ns", "r"));
        assert!(index.baseline_snapshots.wait("ns", "s"));
        index.backup_sets.handle(&watcher::Event::Init);
        let touched = index.backup_sets.handle(&watcher::Event::InitDone);
        assert_eq!(touched, vec![("ns".to_string(), "r".to_string())]);
        assert!(
            !index.wait_for(ArtifactKind::BackupSet, "ns", "r"),
            "synced now"
        );
        assert!(!index.is_synced(), "the other kind still waits");
        let again = index.backup_sets.handle(&watcher::Event::InitDone);
        assert!(again.is_empty(), "a run is released once");
    }
}
