//! Smaller facts the documents state about the chart, the static manifest, the image and
//! the release, checked against the files that make them true.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use crate::markdown::{
    backticked, commands, fenced_blocks, files, inline_code, markdown_files, read, section,
};
use crate::names::kubectl_resources;

/// The static manifest's objects.
fn static_manifest() -> Vec<Value> {
    serde_norway::Deserializer::from_str(&read("deploy/operationrun-controller.yaml"))
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// The plural of a name of the project's kinds (`oprun` → `operationruns`).
fn plural(name: &str) -> Option<String> {
    operationrun_crds::crds().into_iter().find_map(|crd| {
        let n = &crd.spec.names;
        let mut all = vec![n.plural.clone(), n.kind.to_lowercase()];
        all.extend(n.singular.clone());
        all.extend(n.short_names.clone().unwrap_or_default());
        all.contains(&name.to_lowercase()).then(|| n.plural.clone())
    })
}

#[test]
fn redecide_role_grants_what_asking_again_needs() {
    let doc = read("docs/operating.md");
    // what the commands of "Asking for a decision again" do, as (resource, verb)
    let mut needed = BTreeSet::new();
    for cmd in commands(section(&doc, "Asking for a decision again")) {
        let words = cmd.words;
        let resources = kubectl_resources(&words);
        let verb = words.iter().skip(1).find(|w| !w.starts_with('-'));
        let subresource = words
            .iter()
            .find_map(|w| w.strip_prefix("--subresource="))
            .map(str::to_string);
        for resource in resources {
            let plural = plural(&resource).expect("a kind of the project");
            let target = match &subresource {
                Some(sub) => format!("{plural}/{sub}"),
                None => plural.clone(),
            };
            match verb.map(String::as_str) {
                Some("get") => {
                    needed.insert((target, "get".to_string()));
                }
                // kubectl reads what it patches before sending the patch
                Some("patch") => {
                    needed.insert((target.clone(), "get".to_string()));
                    needed.insert((target, "patch".to_string()));
                }
                other => panic!("a command this test does not know: {other:?}"),
            }
        }
    }
    // and the admission policy asks for the verb on the runs
    needed.insert(("operationruns".to_string(), "redecide".to_string()));
    assert!(needed.len() >= 3, "found only {needed:?}");

    let section = section(&doc, "The admission policy: who writes the conditions");
    let role = fenced_blocks(section)
        .into_iter()
        .filter(|b| b.info == "yaml")
        .flat_map(|b| {
            serde_norway::Deserializer::from_str(&b.text)
                .map(|d| Value::deserialize(d).expect("YAML"))
                .collect::<Vec<_>>()
        })
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "operationrun-redecide")
        .expect("the ClusterRole operationrun-redecide");
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert_eq!(
            rule["apiGroups"],
            serde_json::json!([operationrun_crds::GROUP])
        );
        for resource in rule["resources"].as_array().expect("resources") {
            for verb in rule["verbs"].as_array().expect("verbs") {
                granted.insert((
                    resource.as_str().expect("a resource").to_string(),
                    verb.as_str().expect("a verb").to_string(),
                ));
            }
        }
    }
    let missing: Vec<_> = needed.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "docs/operating.md: the redecide role lacks {missing:?} (it grants {granted:?})"
    );
}

#[test]
fn image_is_described_as_the_dockerfile_builds_it() {
    let dockerfile = read("Dockerfile");
    let mut bases = Vec::new();
    let mut user = None;
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("FROM") => bases.extend(words[1..].iter().find(|w| !w.starts_with("--"))),
            Some("USER") => user = words.get(1).copied(),
            _ => {}
        }
    }
    let base = *bases.last().expect("a FROM");
    let user = user.expect("a USER");
    let uid = user.split(':').next().unwrap_or(user);
    let values: Value = serde_norway::from_str(&read("charts/operationrun-controller/values.yaml"))
        .expect("values");
    let repository = values["image"]["repository"]
        .as_str()
        .expect("image.repository");

    let readme = read("charts/operationrun-controller/README.md");
    let image = section(&readme, "Image");
    let mut problems = Vec::new();
    if !backticked(image).contains(&format!("FROM {base}")) {
        problems.push(format!("the Image section does not say `FROM {base}`"));
    }
    if !image.contains(uid) {
        problems.push(format!("the Image section does not name the user {uid}"));
    }
    // every image reference is the project's image or a stage of the Dockerfile
    for token in backticked(image) {
        let image_like = token.contains(':')
            && !token.contains(char::is_whitespace)
            && token.contains(['/', '.'])
            && !token.starts_with(['-', '/', '.']);
        if image_like
            && !token.starts_with(&format!("{repository}:"))
            && !bases.contains(&token.as_str())
        {
            problems.push(format!(
                "the Image section names {token}, which the Dockerfile does not use"
            ));
        }
    }
    // and every document that says what the image is built from says the same
    for file in markdown_files() {
        for (line, span) in inline_code(&read(&file)) {
            if span.strip_prefix("FROM ").is_some_and(|from| from != base) {
                problems.push(format!("{file}:{line}: `{span}`, the image is FROM {base}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn object_names_in_the_documents_are_those_the_chart_renders() {
    // with default values the full name is the release name, `operationrun-controller`
    let names: BTreeSet<String> = static_manifest()
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let mut problems = Vec::new();
    let mut seen = 0;
    for file in markdown_files() {
        for (line, span) in inline_code(&read(&file)) {
            let Some(rest) = span.strip_prefix('<') else {
                continue;
            };
            let Some((placeholder, suffix)) = rest.split_once('>') else {
                continue;
            };
            let Some(suffix) = suffix.strip_prefix('-') else {
                continue;
            };
            seen += 1;
            if placeholder != "full name" {
                problems.push(format!(
                    "{file}:{line}: `{span}`: the chart names its objects after the full name, \
                     `<full name>-{suffix}`"
                ));
            }
            let rendered = format!("operationrun-controller-{suffix}");
            if !names.contains(&rendered) {
                problems.push(format!(
                    "{file}:{line}: `{span}`: the static manifest has no {rendered}"
                ));
            }
        }
    }
    assert!(
        seen >= 3,
        "only {seen} object names found: is the scan broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn checksum_command_is_the_same_everywhere() {
    const COMMAND: &str = "sha256sum -c --ignore-missing SHA256SUMS";
    let mut sources = markdown_files();
    sources.extend(files(".github/workflows", ".yml"));
    let mut problems = Vec::new();
    let mut seen = 0;
    for file in sources {
        for (i, line) in read(&file).lines().enumerate() {
            for (at, _) in line.match_indices("sha256sum ") {
                seen += 1;
                let rest = &line[at..];
                let end = rest.find(['`', '\\', '"', ')']).unwrap_or(rest.len());
                let command = rest[..end].trim();
                if command != COMMAND {
                    problems.push(format!("{file}:{}: `{command}`", i + 1));
                }
            }
        }
    }
    assert!(seen >= 2, "only {seen} checksum commands found");
    assert!(
        problems.is_empty(),
        "a release is checked with `{COMMAND}` (one downloads only some of its files):\n{}",
        problems.join("\n")
    );
}

#[test]
fn docs_index_lists_every_page() {
    let index = read("docs/README.md");
    let mut problems = Vec::new();
    for file in files("docs", "") {
        let rel = file.trim_start_matches("docs/");
        if rel != "README.md" && !index.contains(&format!("]({rel})")) {
            problems.push(rel.to_string());
        }
    }
    assert!(
        problems.is_empty(),
        "docs/README.md does not link {problems:?}"
    );
}

/// The words a list of the static manifest's contents uses for each kind.
fn word_for(kind: &str) -> &'static str {
    match kind {
        "Namespace" => "namespace",
        "CustomResourceDefinition" => "CRDs",
        "ServiceAccount" => "ServiceAccount",
        "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" => "RBAC",
        "Service" => "Service",
        "Deployment" => "Deployment",
        "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding" => "admission policy",
        other => {
            panic!("the static manifest holds a {other}: give it a word here and in the documents")
        }
    }
}

/// Where `word` first stands in `text` as a word of its own.
fn position(text: &str, word: &str) -> Option<usize> {
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[test]
fn static_manifest_contents_are_listed_in_apply_order() {
    let mut words: Vec<&str> = Vec::new();
    for object in static_manifest() {
        let word = word_for(object["kind"].as_str().expect("a kind"));
        if !words.contains(&word) {
            words.push(word);
        }
    }
    // words only: a list may break across lines anywhere
    let words_of = |file: &str| read(file).split_whitespace().collect::<Vec<_>>().join(" ");
    let operating = words_of("docs/operating.md");
    let readme = words_of("README.md");
    let lists = [
        (
            "docs/operating.md",
            &operating,
            "`deploy/operationrun-controller.yaml` holds everything",
            "in apply order",
        ),
        ("README.md", &readme, "the release's static manifest (", ")"),
    ];
    let mut problems = Vec::new();
    for (file, text, start, end) in lists {
        let from = text
            .find(start)
            .unwrap_or_else(|| panic!("{file}: no {start:?}"))
            + start.len();
        let list = &text[from..];
        let list = &list[..list
            .find(end)
            .unwrap_or_else(|| panic!("{file}: no {end:?}"))];
        let mut last = 0;
        for word in &words {
            match position(list, word) {
                None => problems.push(format!(
                    "{file}: the static manifest's contents lack {word}: {list:?}"
                )),
                Some(at) if at < last => {
                    problems.push(format!("{file}: {word} is out of apply order: {list:?}"))
                }
                Some(at) => last = at,
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
