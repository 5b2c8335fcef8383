#!/usr/bin/env python3
"""Regenerates tests/argocd/fixtures/examples.lua and fixtures/spec-cases.lua.

For every folder of examples/ and controller/tests/spec-cases/, it runs

    operationrun-controller evaluate -f <inputs…> --now <now> <args…> -o json

checks that the conditions printed agree (type, status, reason) with the committed
expectation (controller/tests/examples-expected/<name>.json, or <case>/expected.json),
and writes, for every OperationRun, the object as the controller leaves it after that
reconcile: the run from the manifests, with its controller-owned conditions replaced by
the ones evaluate printed (messages included) and any other conditions kept.

The health each object must get is computed here from the mapping documented in
docs/operating.md ("Argo CD health"), independently of docs/argocd/health.lua, which
run.sh then checks against it.

The output is committed; run.sh does not need this script, Python or a Rust build.

    tests/argocd/gen-fixtures.py [--binary target/debug/operationrun-controller]
"""

import argparse
import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OWNED = ("Stale", "Reconciled")

# The mapping of docs/operating.md, "Argo CD health".
RECONCILED = {
    "Succeeded": "Healthy",
    "PartiallySucceeded": "Degraded",
    "Blocked": "Degraded",
    "Failed": "Degraded",
    "Abandoned": "Degraded",
    "UnsupportedFamily": "Degraded",
    "InvalidRun": "Degraded",
    "AmbiguousEvidence": "Degraded",
    "ScopeMismatch": "Degraded",
    "InvalidEvidence": "Degraded",
    "AwaitingEvidence": "Progressing",
}
OUTCOME = {
    "Succeeded": "Healthy",
    "PartiallySucceeded": "Degraded",
    "Blocked": "Degraded",
    "Failed": "Degraded",
    "Cancelled": "Degraded",
}


def expected_health(run):
    status = run.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    phase = status.get("phase") or "Queued"
    reconciled = conditions.get("Reconciled")
    stale = conditions.get("Stale")
    if reconciled is not None:
        health = RECONCILED.get(reconciled.get("reason"))
        if health is None:
            return "Unknown", f"Reconciled has a reason this health check does not know: {reconciled.get('reason')}"
        return health, reconciled["message"]
    if phase == "Completed":
        outcome = status.get("outcome") or ""
        if outcome in OUTCOME:
            return OUTCOME[outcome], f"The worker reported Completed with outcome {outcome}."
        return "Unknown", f"The worker reported Completed without a known outcome ({outcome or 'none'})."
    if stale is not None and stale.get("status") == "True":
        return "Progressing", stale["message"]
    if phase == "Queued":
        return "Progressing", "The run is Queued."
    heartbeat = status.get("heartbeatTime")
    if heartbeat:
        return "Progressing", f"The run is {phase}; last heartbeat at {heartbeat}."
    return "Progressing", f"The run is {phase}."


class Loader(yaml.SafeLoader):
    """Keeps timestamps as the strings they are in the manifests."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, regexp) for tag, regexp in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def manifests(paths):
    """Every object in the given files and directories (multi-document, kind: List)."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            for dirpath, _, names in os.walk(path):
                files.extend(os.path.join(dirpath, n) for n in names)
        else:
            files.append(path)
    objects = []
    for file in sorted(files):
        if not file.endswith((".yaml", ".yml", ".json")):
            continue
        with open(file, encoding="utf-8") as f:
            for doc in yaml.load_all(f, Loader=Loader):
                if not isinstance(doc, dict):
                    continue
                if doc.get("kind") == "List":
                    objects.extend(i for i in doc.get("items") or [] if isinstance(i, dict))
                else:
                    objects.append(doc)
    return objects


def lua(value, indent=""):
    """Serialises JSON-like data as a Lua 5.1 table constructor, keys sorted."""
    inner = indent + "  "
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        )
        return '"' + escaped + '"'
    if isinstance(value, list):
        if not value:
            return "{}"
        return "{\n" + "".join(f"{inner}{lua(v, inner)},\n" for v in value) + indent + "}"
    if isinstance(value, dict):
        if not value:
            return "{}"
        parts = []
        for key in sorted(value):
            k = key if key.isidentifier() and key not in LUA_KEYWORDS else "[" + lua(key) + "]"
            parts.append(f"{inner}{k} = {lua(value[key], inner)},\n")
        return "{\n" + "".join(parts) + indent + "}"
    raise TypeError(type(value))


LUA_KEYWORDS = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}


def fixtures_for(binary, label, inputs, expected):
    args = [binary, "evaluate", "--now", expected["now"], "-o", "json", *expected.get("args", [])]
    for path in inputs:
        args += ["-f", path]
    out = subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    printed = {(e["namespace"], e["name"]): e for e in json.loads(out)}
    runs = {
        (o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for o in manifests(os.path.join(ROOT, p) for p in inputs)
        if o.get("kind") == "OperationRun" and str(o.get("apiVersion", "")).startswith("ops.tenantatlas.io/")
    }
    result = []
    for want in expected["expect"]:
        key = (want["namespace"], want["name"])
        got = printed[key]["conditions"]
        brief = lambda cs: [(c["type"], c["status"], c.get("reason")) for c in cs]
        if brief(got) != brief(want["conditions"]):
            sys.exit(f"{label} {key}: evaluate printed {brief(got)}, expected {brief(want['conditions'])}")
        run = json.loads(json.dumps(runs[key], default=str))
        status = run.setdefault("status", {}) if (got or run.get("status")) else None
        if status is not None:
            foreign = [c for c in status.get("conditions") or [] if c.get("type") not in OWNED]
            status["conditions"] = got + foreign
            if not status["conditions"]:
                del status["conditions"]
            if not status:
                del run["status"]
        health, message = expected_health(run)
        result.append(
            {"name": f"{label} {key[0]}/{key[1]}", "want": {"status": health, "message": message}, "obj": run}
        )
    return result


def write(path, header, fixtures):
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"-- Generated by tests/argocd/gen-fixtures.py from {header}; do not edit.\n")
        f.write("return " + lua(fixtures) + "\n")
    print(f"wrote {len(fixtures)} fixtures to {os.path.relpath(path, ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "operationrun-controller"))
    binary = parser.parse_args().binary
    out = os.path.join(ROOT, "tests", "argocd", "fixtures")

    fixtures = []
    expected_dir = os.path.join(ROOT, "controller", "tests", "examples-expected")
    for file in sorted(os.listdir(expected_dir)):
        name = file.removesuffix(".json")
        with open(os.path.join(expected_dir, file), encoding="utf-8") as f:
            expected = json.load(f)
        fixtures += fixtures_for(binary, f"examples/{name}", [f"examples/{name}"], expected)
    write(os.path.join(out, "examples.lua"), "examples/ and controller/tests/examples-expected/", fixtures)

    fixtures = []
    cases = os.path.join(ROOT, "controller", "tests", "spec-cases")
    for case in sorted(os.listdir(cases)):
        folder = os.path.join(cases, case)
        if not os.path.isdir(folder):
            continue
        with open(os.path.join(folder, "expected.json"), encoding="utf-8") as f:
            expected = json.load(f)
        inputs = [
            os.path.relpath(os.path.join(folder, e), ROOT)
            for e in sorted(os.listdir(folder))
            if e != "expected.json"
        ]
        fixtures += fixtures_for(binary, f"spec-cases/{case}", inputs, expected)
    write(os.path.join(out, "spec-cases.lua"), "controller/tests/spec-cases/", fixtures)


if __name__ == "__main__":
    main()
