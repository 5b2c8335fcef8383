#!/usr/bin/env python3
"""Writes strict JSON schemas in kubeconform's layout, one file per kind.

    kubeconform-schemas.py --openapi DIR --crds CRDS.json --out DIR

--openapi: Kubernetes' OpenAPI v3 documents (api/openapi-spec/v3/*.json of
the k8s.io/kubernetes module, one per group-version). --crds: a JSON file
with one CustomResourceDefinition object a line (the chart's crds/, turned
into JSON by scripts/check-manifests.sh). Python's standard library only.

Each output file is <kind>-<first label of group>-<version>.json (for the
core group <kind>-<version>.json), what kubeconform looks up with
-schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'. A file
holds the kind's schema and the definitions it references, with:
  - additionalProperties: false on every object schema that lists its
    properties and does not preserve unknown fields (kubeconform's "strict":
    a misspelt or misplaced field is an error, not silently dropped);
  - null accepted for every field that is not required, as the API server
    treats a null field as absent;
  - apiVersion and kind fixed to the kind's own;
  - x-kubernetes-int-or-string turned into integer-or-string;
  - for custom resources, metadata checked as the built-in ObjectMeta.
"""

import argparse
import copy
import json
import os
import sys

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
REF_PREFIX = "#/components/schemas/"


def fail(msg):
    print(f"kubeconform-schemas: {msg}", file=sys.stderr)
    sys.exit(1)


def refs_of(node, out):
    """Collects the component names node refers to (its own $refs only)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            out.add(ref[len(REF_PREFIX):])
        for v in node.values():
            refs_of(v, out)
    elif isinstance(node, list):
        for v in node:
            refs_of(v, out)


def closure(components, roots):
    """Every component reachable from roots through $ref."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in components:
            fail(f"$ref to unknown schema {name}")
        seen.add(name)
        found = set()
        refs_of(components[name], found)
        todo.extend(found - seen)
    return seen


def allow_null(schema):
    """schema, or null."""
    t = schema.get("type")
    if isinstance(t, str) and "enum" not in schema:
        out = dict(schema)
        out["type"] = [t, "null"]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def strict(node):
    """Rewrites one schema tree in place for kubeconform (see the module doc)."""
    if isinstance(node, list):
        for v in node:
            strict(v)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        node["$ref"] = "#/definitions/" + ref[len(REF_PREFIX):]
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node.pop("format", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("format") == "int-or-string":
        node.pop("format")
    if node.pop("nullable", False) and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            strict(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            strict(node[key])
    props = node.get("properties")
    if isinstance(props, dict):
        required = set(node.get("required", []))
        for name in list(props):
            strict(props[name])
            if name not in required:
                props[name] = allow_null(props[name])
        if "additionalProperties" not in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            node["additionalProperties"] = False


def kind_file(group, version, kind):
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def api_version(group, version):
    return f"{group}/{version}" if group else version


def top_level(group, version, kind, body, definitions):
    return {
        "description": f"{kind} ({api_version(group, version)}), strict",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {
            "apiVersion": {"enum": [api_version(group, version)]},
            "kind": {"enum": [kind]},
        },
        "allOf": [body],
        "definitions": definitions,
    }


def write(out_dir, name, schema, written):
    if name in written:
        fail(f"two kinds map to {name}")
    written.add(name)
    with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
        json.dump(schema, f, separators=(",", ":"), sort_keys=True)


def openapi_kinds(openapi_dir, out_dir, written):
    """Writes one file per kind of the OpenAPI documents; returns ObjectMeta
    with its definitions, for the custom resources."""
    meta = None
    files = sorted(f for f in os.listdir(openapi_dir) if f.endswith(".json"))
    if not files:
        fail(f"no OpenAPI documents in {openapi_dir}")
    for fname in files:
        with open(os.path.join(openapi_dir, fname), encoding="utf-8") as f:
            doc = json.load(f)
        components = doc.get("components", {}).get("schemas", {})
        if meta is None and OBJECT_META in components:
            names = closure(components, [OBJECT_META])
            meta = {n: copy.deepcopy(components[n]) for n in names}
            for v in meta.values():
                strict(v)
        for name, schema in components.items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
                # Some kinds (DeleteOptions, WatchEvent ...) appear in every
                # group-version document: their schemas are the same.
                if kind_file(group, version, kind) in written:
                    continue
                definitions = {n: copy.deepcopy(components[n]) for n in closure(components, [name])}
                for v in definitions.values():
                    strict(v)
                body = {"$ref": f"#/definitions/{name}"}
                write(out_dir, kind_file(group, version, kind),
                      top_level(group, version, kind, body, definitions), written)
    if meta is None:
        fail(f"{OBJECT_META} is in none of the documents in {openapi_dir}")
    return meta


def crd_kinds(crds_path, out_dir, meta, written):
    with open(crds_path, encoding="utf-8") as f:
        crds = [json.loads(line) for line in f if line.strip()]
    if not crds:
        fail(f"no CustomResourceDefinition in {crds_path}")
    for crd in crds:
        if crd.get("kind") != "CustomResourceDefinition":
            fail(f"{crds_path}: not a CustomResourceDefinition: {crd.get('kind')}")
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for ver in spec["versions"]:
            schema = copy.deepcopy(ver.get("schema", {}).get("openAPIV3Schema"))
            if not isinstance(schema, dict):
                fail(f"{crd['metadata']['name']} {ver['name']}: no openAPIV3Schema")
            strict(schema)
            props = schema.setdefault("properties", {})
            props["metadata"] = allow_null({"$ref": f"#/definitions/{OBJECT_META}"})
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            if not schema.get("x-kubernetes-preserve-unknown-fields"):
                schema["additionalProperties"] = False
            write(out_dir, kind_file(group, ver["name"], kind),
                  top_level(group, ver["name"], kind, schema, meta), written)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--openapi", required=True, help="directory of Kubernetes OpenAPI v3 documents")
    p.add_argument("--crds", required=True, help="CustomResourceDefinitions, one JSON object a line")
    p.add_argument("--out", required=True, help="output directory")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    written = set()
    meta = openapi_kinds(a.openapi, a.out, written)
    crd_kinds(a.crds, a.out, meta, written)
    print(f"kubeconform-schemas: {len(written)} kinds in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
