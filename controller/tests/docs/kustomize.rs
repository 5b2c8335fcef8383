//! The Kustomize example of docs/operating.md, applied to the static manifest as Kustomize
//! applies it, and the Deployment's resulting args parsed by the controller's parser: an
//! example that repeats a flag would make the controller refuse to start.

use clap::Parser;
use operationrun_controller::cli::{Cli, Command, RunArgs};
use serde::Deserialize;
use serde_json::Value;

use crate::markdown::{fenced_blocks, read, section};

/// The objects of a multi-document YAML stream, empty documents left out.
fn documents(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// A JSON pointer's tokens (RFC 6901).
fn tokens(path: &str) -> Vec<String> {
    assert!(
        path.starts_with('/'),
        "a JSON pointer starts with /: {path}"
    );
    path[1..]
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The container (object or array) `tokens` leads to, and the last token.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut tokens = tokens(path);
    let last = tokens.pop().ok_or(format!("{path}: no target"))?;
    let pointer: String = tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect();
    let parent = doc
        .pointer_mut(&pointer)
        .ok_or(format!("{path}: {pointer} does not exist"))?;
    Ok((parent, last))
}

fn index(array: &[Value], token: &str, path: &str, append: bool) -> Result<usize, String> {
    if append && token == "-" {
        return Ok(array.len());
    }
    let i: usize = token
        .parse()
        .map_err(|_| format!("{path}: {token} is not an array index"))?;
    let bound = if append { array.len() } else { array.len() - 1 };
    if array.is_empty() && !append || i > bound {
        return Err(format!("{path}: index {i} out of bounds"));
    }
    Ok(i)
}

/// Applies a JSON patch (RFC 6902) as Kustomize's JSON 6902 patches do: `add`,
/// `remove`, `replace` and `test`.
fn json_patch(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for op in ops {
        let kind = op["op"].as_str().ok_or("an operation without op")?;
        let path = op["path"].as_str().ok_or("an operation without path")?;
        let value = op.get("value").cloned();
        match kind {
            "test" => {
                let actual = doc.pointer(path);
                if actual != value.as_ref() {
                    return Err(format!("test {path}: {actual:?} is not {value:?}"));
                }
            }
            "add" | "replace" => {
                let value = value.ok_or(format!("{kind} {path} without a value"))?;
                let (parent, last) = parent(doc, path)?;
                match parent {
                    Value::Array(a) => {
                        let i = index(a, &last, path, kind == "add")?;
                        if kind == "add" {
                            a.insert(i, value);
                        } else {
                            a[i] = value;
                        }
                    }
                    Value::Object(o) => {
                        if kind == "replace" && !o.contains_key(&last) {
                            return Err(format!("replace {path}: no such member"));
                        }
                        o.insert(last, value);
                    }
                    _ => return Err(format!("{path}: the parent is neither array nor object")),
                }
            }
            "remove" => {
                let (parent, last) = parent(doc, path)?;
                match parent {
                    Value::Array(a) => {
                        let i = index(a, &last, path, false)?;
                        a.remove(i);
                    }
                    Value::Object(o) => {
                        o.remove(&last)
                            .ok_or(format!("remove {path}: no such member"))?;
                    }
                    _ => return Err(format!("{path}: the parent is neither array nor object")),
                }
            }
            other => return Err(format!("op {other} is not one this test applies")),
        }
    }
    Ok(())
}

/// Whether `object` is what a Kustomize patch `target` selects.
fn selected(target: &Value, object: &Value) -> bool {
    ["kind", "name", "namespace", "group", "version"]
        .iter()
        .all(|field| match target.get(*field).and_then(Value::as_str) {
            None => true,
            Some(want) => {
                let api = object["apiVersion"].as_str().unwrap_or_default();
                let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
                let have = match *field {
                    "kind" => object["kind"].as_str(),
                    "name" => object["metadata"]["name"].as_str(),
                    "namespace" => object["metadata"]["namespace"].as_str(),
                    "group" => Some(group),
                    _ => Some(version),
                };
                have == Some(want)
            }
        })
}

/// The controller container's args of the Deployment in `objects`.
fn deployment_args(objects: &[Value]) -> Vec<String> {
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    let controller = containers
        .iter()
        .find(|c| c["name"] == "controller")
        .expect("the controller container");
    controller["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("a string arg").to_string())
        .collect()
}

fn parse_run(args: &[String]) -> Result<RunArgs, String> {
    let argv = std::iter::once("operationrun-controller").chain(args.iter().map(String::as_str));
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Run(run),
        }) => Ok(run),
        Ok(other) => Err(format!("not `run`: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn kustomize_example_leaves_args_the_controller_accepts() {
    let doc = read("docs/operating.md");
    let text = section(&doc, "Static manifest (kubectl and Kustomize)");
    let example = fenced_blocks(text)
        .into_iter()
        .find(|b| b.info == "yaml" && b.text.contains("kind: Kustomization"))
        .expect("the Kustomize example");
    let kustomization: Value = serde_norway::from_str(&example.text).expect("the example's YAML");

    let mut objects = Vec::new();
    for resource in kustomization["resources"].as_array().expect("resources") {
        let file = resource.as_str().expect("a resource file");
        // vendored from deploy/, as the example says
        objects.extend(documents(&read(&format!("deploy/{file}"))));
    }
    let before = deployment_args(&objects);
    let unpatched = parse_run(&before).expect("the static manifest's args parse");

    let patches = kustomization["patches"].as_array().expect("patches");
    assert!(!patches.is_empty(), "the example patches nothing");
    for patch in patches {
        let ops: Value = serde_norway::from_str(patch["patch"].as_str().expect("an inline patch"))
            .expect("the patch's YAML");
        let ops = ops
            .as_array()
            .expect("a JSON 6902 patch (a list of operations)");
        let target = &patch["target"];
        let mut hits = 0;
        for object in objects.iter_mut().filter(|o| selected(target, o)) {
            hits += 1;
            json_patch(object, ops)
                .unwrap_or_else(|e| panic!("Kustomize would refuse the example's patch: {e}"));
        }
        assert_eq!(
            hits, 1,
            "the patch's target {target} selects {hits} objects"
        );
    }

    let after = deployment_args(&objects);
    let patched = parse_run(&after).unwrap_or_else(|e| {
        panic!("with the example's patch the controller refuses its args {after:?}:\n{e}")
    });
    assert_ne!(patched, unpatched, "the example's patch changes nothing");
}

#[test]
fn json_patch_applies_as_kustomize_does() {
    let mut doc = serde_json::json!({"a": ["x", "y"]});
    let ops: Vec<Value> = serde_json::from_str(
        r#"[{"op": "add", "path": "/a/-", "value": "z"},
            {"op": "test", "path": "/a/0", "value": "x"},
            {"op": "replace", "path": "/a/1", "value": "w"},
            {"op": "remove", "path": "/a/0"}]"#,
    )
    .expect("ops");
    json_patch(&mut doc, &ops).expect("applies");
    assert_eq!(doc, serde_json::json!({"a": ["w", "z"]}));
    let bad: Vec<Value> =
        serde_json::from_str(r#"[{"op": "test", "path": "/a/0", "value": "x"}]"#).expect("ops");
    assert!(json_patch(&mut doc, &bad).is_err());
}
