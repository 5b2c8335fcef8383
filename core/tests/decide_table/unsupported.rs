//! Families no adapter decides: rule 1, whatever evidence claims the run (docs/concepts.md#rule-1).

use super::*;

#[test]
fn unsupported_and_unknown_families_rows() {
    // Every evidence kind claims the run in scope, complete; none of it may be borrowed.
    let families = [
        "policy.sync",
        "backup_set.update",
        "restore.execute",
        "review.compose",
        "evidence.snapshot",
        "review_pack.generate",
        "report.weekly",
        "report.tenant.monthly",
        "foo.bar",
        "backup.schedule",
        "backup.schedule.execute.v2",
        "inventory.sync2",
        "Baseline.Capture",
    ];
    let mut rows = Vec::new();
    for family in families {
        let run = Run::of(family)
            .schedule(SCHEDULE)
            .profile(PROFILE)
            .policy_types(&["deviceConfiguration"])
            .coverage(&[("deviceConfiguration", "Succeeded", "")]);
        rows.push(
            row(family_name(family), run)
                .sets(vec![complete_set("set-a")])
                .snaps(vec![complete_snap("snap-a")])
                .decided("UnsupportedFamily", 1)
                .adapter(None)
                .previous("Running")
                .related(&[])
                .stale("True", "HeartbeatExpired")
                .events(&[
                    ("Stale", "HeartbeatExpired", true, None),
                    ("Reconciled", "UnsupportedFamily", true, None),
                ])
                .recheck_after(Some(ts(ABANDON_DUE))),
        );
    }
    rows.push(
        row("rule 1 before rule 2", Run::of("policy.sync"))
            .problem("spec.timeouts: invalid type")
            .decided("UnsupportedFamily", 1)
            .adapter(None),
    );
    rows.push(
        row(
            "unsupported and Queued",
            Run::of("restore.execute").phase("Queued"),
        )
        .decided("UnsupportedFamily", 1)
        .adapter(None)
        .previous("Queued")
        .stale("True", "QueuedTooLong"),
    );
    check(rows);
}

fn family_name(family: &str) -> &'static str {
    Box::leak(format!("family {family}").into_boxed_str())
}
