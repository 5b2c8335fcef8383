//! `inventory.sync`: every rule of the decision table, its evidence being the run itself
//! (docs/concepts.md#decision-table).

use super::*;

#[test]
fn inventory_sync_rows() {
    let types = ["deviceConfiguration", "compliancePolicy"];
    let inv = || Run::inventory(&types);
    check(vec![
        // Rule 2.
        inventory(
            "no inventory spec",
            Run::of(INVENTORY).no_inventory(),
            "InvalidRun",
            2,
        ),
        inventory("empty policy types", Run::inventory(&[]), "InvalidRun", 2).events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "InvalidRun", true, None),
        ]),
        // Rule 3.
        inventory(
            "two entries for one type",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("deviceConfiguration", "Failed", "Throttled"),
                ("compliancePolicy", "Succeeded", ""),
            ]),
            "AmbiguousEvidence",
            3,
        ),
        // Rule 4.
        inventory(
            "every type succeeded",
            inv().coverage(&[
                ("compliancePolicy", "Succeeded", ""),
                ("deviceConfiguration", "Succeeded", ""),
            ]),
            "Succeeded",
            4,
        )
        .events(&[
            ("Stale", "HeartbeatExpired", true, None),
            ("Reconciled", "Succeeded", false, None),
        ]),
        inventory(
            "policy types are a set",
            Run::inventory(&["deviceConfiguration", "deviceConfiguration"]).coverage(&[(
                "deviceConfiguration",
                "Succeeded",
                "",
            )]),
            "Succeeded",
            4,
        ),
        inventory(
            "coverage outside the set is ignored",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("compliancePolicy", "Succeeded", ""),
                ("appProtection", "Failed", "PermissionDenied"),
            ]),
            "Succeeded",
            4,
        ),
        inventory(
            "BackupSets are not inventory evidence",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("compliancePolicy", "Succeeded", ""),
            ]),
            "Succeeded",
            4,
        )
        .sets(vec![Set::named("set-a").counts(10, 0, 10, 0).ok()]),
        // Rule 5.
        inventory(
            "one succeeded, one failed",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("compliancePolicy", "Failed", "Throttled"),
            ]),
            "PartiallySucceeded",
            5,
        ),
        inventory(
            "one succeeded, one not finished",
            inv().coverage(&[("deviceConfiguration", "Succeeded", "")]),
            "PartiallySucceeded",
            5,
        ),
        inventory(
            "usable output outranks a precondition failure",
            inv().coverage(&[
                ("deviceConfiguration", "Succeeded", ""),
                ("compliancePolicy", "Failed", "PermissionDenied"),
            ]),
            "PartiallySucceeded",
            5,
        ),
        // Rule 6.
        inventory(
            "a type failed on a precondition",
            inv().coverage(&[("compliancePolicy", "Failed", "PermissionDenied")]),
            "Blocked",
            6,
        ),
        inventory(
            "run records ConsentMissing, no coverage",
            inv().failures(&["ConsentMissing"]),
            "Blocked",
            6,
        ),
        // Rule 7.
        inventory(
            "a type failed without a category",
            inv().coverage(&[("compliancePolicy", "Failed", "")]),
            "Failed",
            7,
        ),
        inventory(
            "a type failed on an execution failure",
            inv().coverage(&[
                ("compliancePolicy", "Failed", "Throttled"),
                ("deviceConfiguration", "InProgress", ""),
            ]),
            "Failed",
            7,
        ),
        // Rule 8.
        inventory(
            "coverage only outside the set",
            inv().coverage(&[("appProtection", "Succeeded", "")]),
            "ScopeMismatch",
            8,
        ),
        inventory(
            "out-of-set failures are not recorded",
            inv().coverage(&[("appProtection", "Failed", "PermissionDenied")]),
            "ScopeMismatch",
            8,
        ),
        // Rule 10.
        inventory("no coverage yet", inv(), "AwaitingEvidence", 10)
            .recheck_after(Some(ts(ABANDON_DUE))),
        inventory(
            "types still in progress",
            inv().coverage(&[
                ("compliancePolicy", "InProgress", ""),
                ("deviceConfiguration", "Running", ""),
            ]),
            "AwaitingEvidence",
            10,
        ),
    ]);
}
