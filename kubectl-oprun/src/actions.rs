//! The one next action an operator gets for each situation a run can be in. It is one
//! table so that `list`, `explain` and `NEXT_ACTIONS.md` (which the troubleshooting docs
//! link) can never disagree; a test checks the Markdown against it.

use operationrun_core::decide::Reason;

/// Where a run stands, as far as an operator's next step is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Situation {
    /// The controller wrote `Reconciled` with this reason (a final or an undecided one).
    Reconciled(Reason),
    /// The `Reconciled` reason is not one this plugin knows (a newer controller).
    UnknownReason,
    /// Stale while Queued, and no decision written (dry-run, reconcile disabled, or not yet).
    QueuedTooLong,
    /// Stale while Running, and no decision written (dry-run, reconcile disabled, or not yet).
    HeartbeatExpired,
    /// Not stale, the worker is running.
    Running,
    /// Not stale, waiting for a worker.
    Queued,
    /// The worker reported Completed with outcome Succeeded; the controller decided nothing.
    WorkerSucceeded,
    /// The worker reported Completed with another outcome (or none); the controller
    /// decided nothing.
    WorkerReported,
}

/// One row of the table: the situation, how the docs name it, the short form `list`
/// shows and the sentence `explain` shows after `Next: `.
#[derive(Clone, Copy, Debug)]
pub struct Action {
    /// The situation this row is for.
    pub situation: Situation,
    /// The condition reason `docs/troubleshooting.md` files this action under, if any.
    pub reason: Option<&'static str>,
    /// The situation as `NEXT_ACTIONS.md` names it.
    pub label: &'static str,
    /// The NEXT ACTION column of `list`.
    pub short: &'static str,
    /// The `Next: ` line of `explain`; under 80 characters.
    pub text: &'static str,
}

const fn row(
    situation: Situation,
    reason: Option<&'static str>,
    label: &'static str,
    short: &'static str,
    text: &'static str,
) -> Action {
    Action {
        situation,
        reason,
        label,
        short,
        text,
    }
}

/// Every situation with its next action, in the order `NEXT_ACTIONS.md` lists them. Where
/// `docs/troubleshooting.md` has a row for the same reason, the sentence is the same.
pub const ACTIONS: [Action; 18] = [
    row(
        Situation::Reconciled(Reason::UnsupportedFamily),
        Some("UnsupportedFamily"),
        "`Reconciled=False UnsupportedFamily`",
        "check worker's records",
        "Get the outcome from the worker's own records; this family is not decided.",
    ),
    row(
        Situation::Reconciled(Reason::InvalidRun),
        Some("InvalidRun"),
        "`Reconciled=False InvalidRun`",
        "fix run spec",
        "Fix or delete the run: its spec lacks a field its family requires.",
    ),
    row(
        Situation::Reconciled(Reason::AmbiguousEvidence),
        Some("AmbiguousEvidence"),
        "`Reconciled=False AmbiguousEvidence`",
        "delete stray artifact",
        "Delete the stray claim so exactly one artifact with the run's uid remains.",
    ),
    row(
        Situation::Reconciled(Reason::Succeeded),
        Some("Succeeded"),
        "`Reconciled=True Succeeded`",
        "none",
        "None: the evidence proves the run complete.",
    ),
    row(
        Situation::Reconciled(Reason::PartiallySucceeded),
        Some("PartiallySucceeded"),
        "`Reconciled=True PartiallySucceeded`",
        "retry what is missing",
        "Retry only what is missing; the stored output is usable as it is.",
    ),
    row(
        Situation::Reconciled(Reason::Blocked),
        Some("Blocked"),
        "`Reconciled=True Blocked`",
        "fix precondition, retry",
        "Fix the precondition named in the message, then retry the run.",
    ),
    row(
        Situation::Reconciled(Reason::Failed),
        Some("Failed"),
        "`Reconciled=True Failed`",
        "fix cause, retry",
        "Read the failure categories in the message, fix the cause, then retry the run.",
    ),
    row(
        Situation::Reconciled(Reason::ScopeMismatch),
        Some("ScopeMismatch"),
        "`Reconciled=False ScopeMismatch`",
        "fix artifact scope",
        "Fix the worker: artifacts must carry the run's uid and schedule/profile.",
    ),
    row(
        Situation::Reconciled(Reason::InvalidEvidence),
        Some("InvalidEvidence"),
        "`Reconciled=False InvalidEvidence`",
        "fix artifact counts",
        "Correct the artifact's counts at the worker; the run is judged again.",
    ),
    row(
        Situation::Reconciled(Reason::AwaitingEvidence),
        Some("AwaitingEvidence"),
        "`Reconciled=False AwaitingEvidence`",
        "check worker alive",
        "Check whether the worker is still alive; if it is not, retry the run.",
    ),
    row(
        Situation::Reconciled(Reason::Abandoned),
        Some("Abandoned"),
        "`Reconciled=True Abandoned`",
        "retry; check worker",
        "Treat the run as failed: retry it and find out why its worker stopped.",
    ),
    row(
        Situation::UnknownReason,
        None,
        "`Reconciled` with a reason this plugin does not know",
        "read condition",
        "Read the Reconciled message above; this plugin does not know its reason.",
    ),
    row(
        Situation::QueuedTooLong,
        Some("QueuedTooLong"),
        "`Stale=True QueuedTooLong` (or stale while Queued), no decision written",
        "check queue",
        "Check the queue and worker capacity: no worker picked the run up.",
    ),
    row(
        Situation::HeartbeatExpired,
        Some("HeartbeatExpired"),
        "`Stale=True HeartbeatExpired` (or stale while Running), no decision written",
        "check worker",
        "Check the worker pod that ran it (logs, OOMKilled, evicted, node drain).",
    ),
    row(
        Situation::Running,
        None,
        "Running, not stale",
        "none",
        "None: the worker is running.",
    ),
    row(
        Situation::Queued,
        None,
        "Queued, not stale",
        "none",
        "None: the run is queued.",
    ),
    row(
        Situation::WorkerSucceeded,
        None,
        "Completed by the worker with outcome Succeeded, no controller decision",
        "none",
        "None: the worker reported the run succeeded.",
    ),
    row(
        Situation::WorkerReported,
        None,
        "Completed by the worker with another outcome, no controller decision",
        "follow up outcome",
        "Follow up on the outcome the worker reported; nothing is left to decide.",
    ),
];

fn lookup(situation: Situation) -> &'static Action {
    // every situation has a row (checked by a test); the fallback is never reached
    ACTIONS
        .iter()
        .find(|a| a.situation == situation)
        .unwrap_or(&ACTIONS[11])
}

/// The one next action for a situation, as `explain` prints it after `Next: `.
pub fn next_action(situation: Situation) -> &'static str {
    lookup(situation).text
}

/// The short next action for `list`'s NEXT ACTION column.
pub fn short_action(situation: Situation) -> &'static str {
    lookup(situation).short
}

/// Reads a stored `Reconciled` reason.
pub fn parse_reason(reason: &str) -> Option<Reason> {
    Reason::ALL.into_iter().find(|r| r.as_str() == reason)
}

/// The table as Markdown, exactly as `NEXT_ACTIONS.md` holds it.
pub fn markdown_table() -> String {
    let mut out = String::from("| situation | `list` | `explain` (`Next: …`) |\n|---|---|---|\n");
    for a in &ACTIONS {
        out.push_str(&format!("| {} | {} | {} |\n", a.label, a.short, a.text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_situation_has_exactly_one_row() {
        let mut all: Vec<Situation> = Reason::ALL.into_iter().map(Situation::Reconciled).collect();
        all.extend([
            Situation::UnknownReason,
            Situation::QueuedTooLong,
            Situation::HeartbeatExpired,
            Situation::Running,
            Situation::Queued,
            Situation::WorkerSucceeded,
            Situation::WorkerReported,
        ]);
        assert_eq!(all.len(), ACTIONS.len());
        for s in all {
            let rows = ACTIONS.iter().filter(|a| a.situation == s).count();
            assert_eq!(rows, 1, "{s:?}");
        }
    }

    #[test]
    fn actions_are_short_single_sentences() {
        for a in &ACTIONS {
            assert!(a.text.chars().count() < 80, "{}", a.text);
            assert!(
                a.text.ends_with('.') && !a.text.contains('\n'),
                "{}",
                a.text
            );
            assert!(!a.short.is_empty() && a.short.len() <= 26, "{}", a.short);
        }
    }

    #[test]
    fn next_actions_md_holds_the_table() {
        let md = include_str!("../NEXT_ACTIONS.md");
        assert!(
            md.contains(&markdown_table()),
            "NEXT_ACTIONS.md is out of date; its table must be:\n{}",
            markdown_table()
        );
    }

    /// The troubleshooting guide and the plugin give the same action for the same reason.
    #[test]
    fn docs_troubleshooting_table_agrees() {
        let docs = include_str!("../../docs/troubleshooting.md");
        let table = docs
            .split("<!-- next-actions:begin -->")
            .nth(1)
            .and_then(|t| t.split("<!-- next-actions:end -->").next())
            .expect("docs/troubleshooting.md has the next-actions table");
        for a in ACTIONS.iter().filter(|a| a.reason.is_some()) {
            let reason = a.reason.unwrap();
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("| `{reason}` |")))
                .unwrap_or_else(|| panic!("docs/troubleshooting.md has no row for {reason}"));
            let text = row.trim_end_matches('|').rsplit('|').next().unwrap().trim();
            assert_eq!(text, a.text, "next action for {reason}");
        }
    }

    #[test]
    fn reasons_parse_back() {
        for r in Reason::ALL {
            assert_eq!(parse_reason(r.as_str()), Some(r));
        }
        assert_eq!(parse_reason("Whatever"), None);
    }
}
