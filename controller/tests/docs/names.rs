//! The resource names `kubectl` commands in the documents use: a name of one of the
//! project's kinds must be one its CRD declares, or kubectl answers "the server doesn't
//! have a resource type".

use std::collections::BTreeSet;

use operationrun_crds::{GROUP, VERSION};

use crate::markdown::{commands, markdown_files, read};

/// kubectl verbs whose first argument is a resource type.
const TYPE_VERBS: &[&str] = &[
    "get", "describe", "delete", "explain", "edit", "patch", "annotate", "label",
];

/// kubectl flags that take the next word as their value (unless written `--flag=value`).
const VALUE_FLAGS: &[&str] = &[
    "-n",
    "--namespace",
    "-o",
    "--output",
    "-l",
    "--selector",
    "--field-selector",
    "--context",
    "--kubeconfig",
    "--cluster",
    "--user",
    "--as",
    "--as-group",
    "-f",
    "--filename",
    "-k",
    "--kustomize",
    "--type",
    "-p",
    "--patch",
    "--subresource",
    "--sort-by",
    "--template",
    "-c",
    "--container",
    "--for",
    "--timeout",
    "--api-version",
    "-L",
    "--label-columns",
    "-s",
    "--server",
];

/// Resource types of Kubernetes itself the documents name.
const BUILTIN: &[&str] = &[
    "events",
    "pods",
    "deploy",
    "deployment",
    "deployments",
    "leases",
    "namespaces",
    "crd",
    "crds",
    "customresourcedefinitions",
    "validatingadmissionpolicy",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybinding",
    "validatingadmissionpolicybindings",
    "serviceaccounts",
    "services",
    "svc",
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
];

/// The resource types a kubectl command names, or none when it names none (`-f`, `-k`,
/// a placeholder, another verb).
pub fn kubectl_resources(words: &[String]) -> Vec<String> {
    if words.first().map(String::as_str) != Some("kubectl") {
        return Vec::new();
    }
    let mut positional = Vec::new();
    let mut from_files = false;
    let mut rest = words[1..].iter();
    while let Some(word) = rest.next() {
        if word.starts_with('-') && word.len() > 1 {
            let name = word.split('=').next().unwrap_or_default();
            from_files |= ["-f", "--filename", "-k", "--kustomize"].contains(&name);
            if !word.contains('=') && VALUE_FLAGS.contains(&name) {
                rest.next();
            }
        } else {
            positional.push(word.as_str());
        }
    }
    let resource = match positional.as_slice() {
        ["auth", "can-i", _verb, resource, ..] => *resource,
        [verb, resource, ..] if TYPE_VERBS.contains(verb) && !from_files => {
            if *verb == "explain" {
                // RESOURCE.FIELD: the group of the project's kinds stays with the name
                let group = format!(".{GROUP}");
                match resource.find(&group) {
                    Some(at) => &resource[..at + group.len()],
                    None => resource.split('.').next().unwrap_or_default(),
                }
            } else {
                resource
            }
        }
        _ => return Vec::new(),
    };
    if resource.contains(['$', '<']) || resource.chars().all(|c| !c.is_ascii_lowercase()) {
        return Vec::new(); // a variable or a placeholder
    }
    resource
        .split(',')
        .map(|r| r.split('/').next().unwrap_or_default().to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

/// The names kubectl accepts for the project's kinds: plural, singular, kind and short
/// names, each also with the group and with version and group.
fn declared() -> (BTreeSet<String>, Vec<String>) {
    let mut names = BTreeSet::new();
    let mut stems = Vec::new();
    for crd in operationrun_crds::crds() {
        let n = &crd.spec.names;
        let mut own = vec![
            n.plural.clone(),
            n.kind.to_lowercase(),
            n.singular.clone().unwrap_or_default(),
        ];
        own.extend(n.short_names.clone().unwrap_or_default());
        for name in own.into_iter().filter(|s| !s.is_empty()) {
            names.insert(format!("{name}.{}", crd.spec.group));
            names.insert(format!("{name}.{VERSION}.{}", crd.spec.group));
            stems.push(name.clone());
            names.insert(name);
        }
    }
    (names, stems)
}

#[test]
fn kubectl_commands_use_names_the_crds_declare() {
    let (declared, stems) = declared();
    let mut problems = Vec::new();
    let mut ours = 0;
    for file in markdown_files() {
        for cmd in commands(&read(&file)) {
            let (line, words) = (cmd.line, &cmd.words);
            for resource in kubectl_resources(words) {
                let lower = resource.to_lowercase();
                // one of the project's kinds: its group, or a name that starts like one of
                // theirs (`bksets`, `opruns`, `operationrunz`)
                let is_ours = lower.ends_with(&format!(".{GROUP}"))
                    || stems.iter().any(|s| lower.starts_with(s.as_str()));
                if is_ours {
                    ours += 1;
                    if !declared.contains(&lower) {
                        problems.push(format!(
                            "{file}:{line}: `{}`: no CRD declares {resource}",
                            words.join(" ")
                        ));
                    }
                } else if !BUILTIN.contains(&lower.as_str()) && !lower.contains('.') {
                    problems.push(format!(
                        "{file}:{line}: `{}`: {resource} is neither a name the CRDs declare \
                         nor a Kubernetes resource this test knows (add it to BUILTIN if it is one)",
                        words.join(" ")
                    ));
                }
            }
        }
    }
    assert!(
        ours >= 10,
        "only {ours} names of the project's kinds found: is the scan broken?"
    );
    assert!(
        problems.is_empty(),
        "declared: {declared:?}\n{}",
        problems.join("\n")
    );
}

#[test]
fn kubectl_resources_reads_the_type_argument() {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        kubectl_resources(&words("kubectl -n x get opruns,bkset -o yaml")),
        vec!["opruns", "bkset"]
    );
    assert_eq!(
        kubectl_resources(&words("kubectl explain oprun.status")),
        vec!["oprun"]
    );
    assert_eq!(
        kubectl_resources(&words(
            "kubectl auth can-i redecide operationruns.ops.tenantatlas.io -n t"
        )),
        vec!["operationruns.ops.tenantatlas.io"]
    );
    assert_eq!(
        kubectl_resources(&words("kubectl delete -f deploy/x.yaml")),
        Vec::<String>::new()
    );
    assert_eq!(
        kubectl_resources(&words("kubectl get oprun/nightly -n NAMESPACE")),
        vec!["oprun"]
    );
}
