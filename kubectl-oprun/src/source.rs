//! Where runs and artifacts come from: the cluster (through the kubeconfig, as kubectl
//! reads it) or manifest files. Cluster objects are read as plain JSON and salvaged, so
//! one odd object can never fail the command.

use std::collections::HashMap;
use std::path::PathBuf;

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource};
use operationrun_core::decide::{Config, is_owned};
use operationrun_core::evaluate::evaluate;
use operationrun_core::manifests::{self, Manifests};
use operationrun_crds::{
    BackupSet, BaselineSnapshot, OperationRun, OperationRunStatus, Parsed, Salvage,
};

use crate::Error;

/// The namespaces a command looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Namespaces {
    /// Every namespace.
    All,
    /// One namespace.
    One(String),
}

/// How to reach the cluster, as kubectl's `--kubeconfig` and `--context` say.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// An explicit kubeconfig file; else `KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// A context other than the current one.
    pub context: Option<String>,
}

/// A connected client and the namespace of the kubeconfig context.
pub struct Cluster {
    client: Client,
    /// The context's namespace (`default` when it names none).
    pub default_namespace: String,
}

impl Cluster {
    /// Reads the kubeconfig and builds a client; exec credential plugins run on the first
    /// request, as with kubectl. Without any kubeconfig, the in-cluster service account
    /// is used when there is one.
    pub async fn connect(access: &Access) -> Result<Self, Error> {
        let options = KubeConfigOptions {
            context: access.context.clone(),
            ..Default::default()
        };
        let kubeconfig = match &access.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| {
                Error::Input(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?),
            None => match Kubeconfig::read() {
                Ok(k) => Some(k),
                Err(e) => {
                    if access.context.is_some() {
                        return Err(Error::Input(format!("cannot read the kubeconfig: {e}")));
                    }
                    None
                }
            },
        };
        let config = match kubeconfig {
            Some(k) => kube::Config::from_custom_kubeconfig(k, &options)
                .await
                .map_err(|e| Error::Input(format!("kubeconfig: {e}")))?,
            None => kube::Config::incluster().map_err(|_| {
                Error::Input(
                    "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or use -f for files"
                        .into(),
                )
            })?,
        };
        let default_namespace = config.default_namespace.clone();
        let client = Client::try_from(config)
            .map_err(|e| Error::Cluster(format!("cannot create a client: {e}")))?;
        Ok(Cluster {
            client,
            default_namespace,
        })
    }

    fn api<K: Resource<DynamicType = ()>>(
        &self,
        namespaces: &Namespaces,
    ) -> (Api<DynamicObject>, String) {
        let resource = ApiResource::erase::<K>(&());
        let plural = format!("{}.{}", resource.plural, resource.group);
        let api = match namespaces {
            Namespaces::All => Api::all_with(self.client.clone(), &resource),
            Namespaces::One(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
        };
        (api, plural)
    }

    /// Lists every object of kind `K` in `namespaces`, page by page, salvaging each.
    async fn list<K: Resource<DynamicType = ()> + Salvage>(
        &self,
        namespaces: &Namespaces,
    ) -> Result<Vec<Parsed<K>>, Error> {
        let (api, plural) = self.api::<K>(namespaces);
        let mut params = ListParams::default().limit(500);
        let mut out = Vec::new();
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| cluster_error(e, &format!("listing {plural}"), true))?;
            for item in page.items {
                let Ok(value) = serde_json::to_value(&item) else {
                    continue;
                };
                match K::salvage(&value) {
                    Ok(parsed) => out.push(parsed),
                    Err(why) => eprintln!(
                        "warning: skipped a {} that cannot be read: {why}",
                        K::kind(&())
                    ),
                }
            }
            match page.metadata.continue_.filter(|t| !t.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
        Ok(out)
    }

    /// Every OperationRun in `namespaces`.
    pub async fn runs(&self, namespaces: &Namespaces) -> Result<Vec<Parsed<OperationRun>>, Error> {
        self.list::<OperationRun>(namespaces).await
    }

    /// One OperationRun, with the artifacts of its namespace when `with_artifacts`.
    pub async fn run(
        &self,
        namespace: &str,
        name: &str,
        with_artifacts: bool,
    ) -> Result<Manifests, Error> {
        let namespaces = Namespaces::One(namespace.to_string());
        let (api, _) = self.api::<OperationRun>(&namespaces);
        let object = match api.get(name).await {
            Ok(o) => o,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(Error::Cluster(format!(
                    "OperationRun {name} not found in namespace {namespace}"
                )));
            }
            Err(e) => {
                return Err(cluster_error(
                    e,
                    &format!("reading OperationRun {namespace}/{name}"),
                    false,
                ));
            }
        };
        let value = serde_json::to_value(&object)
            .map_err(|e| Error::Cluster(format!("OperationRun {namespace}/{name}: {e}")))?;
        let run = OperationRun::salvage(&value)
            .map_err(|e| Error::Cluster(format!("OperationRun {namespace}/{name}: {e}")))?;
        let mut manifests = Manifests {
            runs: vec![run],
            ..Default::default()
        };
        if with_artifacts {
            manifests.backup_sets = self.list::<BackupSet>(&namespaces).await?;
            manifests.baseline_snapshots = self.list::<BaselineSnapshot>(&namespaces).await?;
        }
        Ok(manifests)
    }
}

/// A cluster error in words an operator can act on.
fn cluster_error(e: kube::Error, doing: &str, listing: bool) -> Error {
    match e {
        kube::Error::Api(s) if s.code == 404 && listing => Error::Cluster(format!(
            "{doing}: the server does not serve this API (are the operationrun-controller CRDs installed?)"
        )),
        kube::Error::Api(s) if s.code == 401 => {
            Error::Cluster(format!("{doing}: unauthorized: {}", s.message))
        }
        kube::Error::Api(s) if s.code == 403 => {
            Error::Cluster(format!("{doing}: forbidden: {}", s.message))
        }
        kube::Error::Api(s) => Error::Cluster(format!("{doing}: {} ({})", s.message, s.code)),
        other => Error::Cluster(format!("{doing}: {other}")),
    }
}

/// Reads manifests as `operationrun-controller evaluate` does.
pub fn load_files(paths: &[PathBuf]) -> Result<Manifests, Error> {
    manifests::load(paths).map_err(|e| Error::Input(e.to_string()))
}

/// Replaces every run's controller-owned conditions by those one reconcile at `now` would
/// write, keeping conditions the controller does not own: what the cluster would show
/// after the controller looked at the files once.
pub fn reconcile(manifests: &mut Manifests, now: Timestamp, config: &Config) {
    let decided: HashMap<(String, String), _> = evaluate(manifests, now, config)
        .into_iter()
        .map(|(entry, decision)| ((entry.namespace, entry.name), decision.conditions))
        .collect();
    for run in &mut manifests.runs {
        let meta = &run.object.metadata;
        let key = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let Some(owned) = decided.get(&key) else {
            continue;
        };
        let had_status = run.object.status.is_some();
        if !had_status && owned.is_empty() {
            continue;
        }
        let status = run
            .object
            .status
            .get_or_insert_with(OperationRunStatus::default);
        let mut conditions: Vec<_> = status
            .conditions
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| !is_owned(&c.type_))
            .collect();
        conditions.extend(owned.iter().cloned());
        status.conditions = (!conditions.is_empty()).then_some(conditions);
    }
}

/// The runs of `manifests` in `namespaces`.
pub fn in_namespaces<'a>(
    manifests: &'a Manifests,
    namespaces: &Namespaces,
) -> impl Iterator<Item = &'a Parsed<OperationRun>> {
    manifests.runs.iter().filter(move |r| match namespaces {
        Namespaces::All => true,
        Namespaces::One(ns) => r.object.metadata.namespace.as_deref() == Some(ns.as_str()),
    })
}

/// Finds the run `name` among files; without a namespace, the name must be unique.
pub fn find_in_files<'a>(
    manifests: &'a Manifests,
    namespace: Option<&str>,
    name: &str,
) -> Result<&'a Parsed<OperationRun>, Error> {
    let matches: Vec<&Parsed<OperationRun>> = manifests
        .runs
        .iter()
        .filter(|r| r.object.metadata.name.as_deref() == Some(name))
        .filter(|r| namespace.is_none_or(|ns| r.object.metadata.namespace.as_deref() == Some(ns)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::Input(match namespace {
            Some(ns) => format!("no OperationRun {name} in namespace {ns} in the given files"),
            None => format!("no OperationRun {name} in the given files"),
        })),
        many => {
            let mut namespaces: Vec<&str> = many
                .iter()
                .map(|r| r.object.metadata.namespace.as_deref().unwrap_or_default())
                .collect();
            namespaces.sort_unstable();
            Err(Error::Input(format!(
                "OperationRun {name} is in several namespaces ({}); pass -n",
                namespaces.join(", ")
            )))
        }
    }
}
