//! Condition messages stay under the limit the API server would enforce, however long the
//! text they quote (docs/concepts.md#liveness).

use super::*;

use operationrun_core::decide::{MAX_MESSAGE_BYTES, TRUNCATION_MARKER};
use operationrun_crds::Salvage;

/// A BackupSet claiming the run whose `status.summary.succeeded` is a string of about
/// 40 KiB of multi-byte characters: salvage reads the rest and quotes the value in its
/// problem text.
fn set_with_a_huge_wrong_typed_count() -> Parsed<BackupSet> {
    let mut value = match serde_json::to_value(&Set::named("set-huge").counts(10, 5, 0, 0).0) {
        Ok(v) => v,
        Err(e) => panic!("a BackupSet serializes: {e}"),
    };
    // 1 + 2 + 3 + 4 bytes per round, so cuts fall inside characters of every width.
    let huge = "aé€🦀".repeat(40 * 1024 / 10);
    let Some(summary) = value.pointer_mut("/status/summary") else {
        panic!("the set has a summary: {value}");
    };
    summary["succeeded"] = serde_json::Value::String(huge);
    match BackupSet::salvage(&value) {
        Ok(parsed) => parsed,
        Err(e) => panic!("salvage keeps a named object: {e}"),
    }
}

#[test]
fn a_huge_quoted_value_gives_a_capped_message() {
    let set = set_with_a_huge_wrong_typed_count();
    let problem = set.problem.clone().unwrap_or_default();
    assert!(
        problem.len() > 40 * 1024 && problem.contains("🦀"),
        "salvage quotes the value: {} bytes",
        problem.len()
    );
    let sets = [set];
    let r = row("a claim quoting 40 KiB", Run::backup())
        .sets(sets.to_vec())
        .stale("True", "HeartbeatExpired")
        .related(&["set-huge"]);
    let (d, errors) = run_row(&r);
    assert!(errors.is_empty(), "{errors:?}");
    let Some(reconciled) = find(&d.conditions, RECONCILED) else {
        panic!("a Reconciled condition: {:?}", d.conditions);
    };
    let message = reconciled.message.as_deref().unwrap_or_default();
    assert!(
        message.len() <= MAX_MESSAGE_BYTES,
        "{} bytes",
        message.len()
    );
    assert!(message.ends_with(TRUNCATION_MARKER), "{message}");
    // A &str is valid UTF-8 by construction; the cut kept whole characters of the text.
    let kept = &message[..message.len() - TRUNCATION_MARKER.len()];
    assert!(kept.contains("set-huge"), "{kept}");
    let Some(last) = kept.chars().last() else {
        panic!("something was kept");
    };
    assert!(
        ['a', 'é', '€', '🦀'].contains(&last),
        "the cut falls in the quoted value: {last:?}"
    );
    // No more than one character short of the room left for the marker.
    assert!(kept.len() + 4 > MAX_MESSAGE_BYTES - TRUNCATION_MARKER.len());
    // The Event says what the condition says.
    let event = d
        .transitions
        .iter()
        .find(|t| t.condition == ConditionType::Reconciled);
    assert_eq!(event.map(|t| t.message.as_str()), Some(message));
    // The verdict carries the same capped message, as tools that show it read it.
    assert_eq!(
        d.verdict.as_ref().map(|v| v.message.as_str()),
        Some(message)
    );
}

#[test]
fn every_cut_position_gives_the_same_bytes_when_decided_again() {
    // Shift the quoted value by one byte at a time, so the cut lands before, inside and
    // after every width of character; check() decides each result again.
    let rows = (0..10)
        .map(|shift| {
            let mut set = set_with_a_huge_wrong_typed_count();
            let name = format!("set-{}", "x".repeat(shift));
            set.object.metadata.name = Some(name.clone());
            set.object.metadata.uid = Some(format!("uid-{name}"));
            row("a claim quoting 40 KiB, shifted", Run::backup())
                .sets(vec![set])
                .stale("True", "HeartbeatExpired")
        })
        .collect();
    check(rows);
}
