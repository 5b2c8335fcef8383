//! The one next action an operator gets for each situation a run can be in. It is one
//! table so that `list`, `explain` and `NEXT_ACTIONS.md` (which the troubleshooting docs
//! link) can never disagree; a test checks the Markdown against it.

use operationrun_core::decide::{Reason, StaleReason};

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

impl Situation {
    /// Every situation, in the order `NEXT_ACTIONS.md` lists them: the `Reconciled`
    /// reasons in table order, then the situations without a controller decision.
    pub fn all() -> Vec<Situation> {
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
        all
    }

    /// The condition reason `docs/troubleshooting.md` files this situation's action under.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Situation::Reconciled(reason) => Some(reason.as_str()),
            Situation::QueuedTooLong => Some(StaleReason::QueuedTooLong.as_str()),
            Situation::HeartbeatExpired => Some(StaleReason::HeartbeatExpired.as_str()),
            Situation::UnknownReason
            | Situation::Running
            | Situation::Queued
            | Situation::WorkerSucceeded
            | Situation::WorkerReported => None,
        }
    }
}

/// The next action for one situation: how the docs name the situation, the short form
/// `list` shows and the sentence `explain` shows after `Next: `.
#[derive(Clone, Copy, Debug)]
pub struct Action {
    /// The situation as `NEXT_ACTIONS.md` names it.
    pub label: &'static str,
    /// The NEXT ACTION column of `list`.
    pub short: &'static str,
    /// The `Next: ` line of `explain`; under 80 characters.
    pub text: &'static str,
}

const fn row(label: &'static str, short: &'static str, text: &'static str) -> Action {
    Action { label, short, text }
}

/// The next action for a situation. Where `docs/troubleshooting.md` has a row for the
/// same reason, the sentence is the same.
pub const fn action(situation: Situation) -> Action {
    match situation {
        Situation::Reconciled(Reason::UnsupportedFamily) => row(
            "`Reconciled=False UnsupportedFamily`",
            "check worker's records",
            "Get the outcome from the worker's own records; this family is not decided.",
        ),
        Situation::Reconciled(Reason::InvalidRun) => row(
            "`Reconciled=False InvalidRun`",
            "fix run spec",
            "Fix or delete the run: its spec lacks a field its family requires.",
        ),
        Situation::Reconciled(Reason::AmbiguousEvidence) => row(
            "`Reconciled=False AmbiguousEvidence`",
            "delete stray artifact",
            "Delete the stray claim so exactly one artifact with the run's uid remains.",
        ),
        Situation::Reconciled(Reason::Succeeded) => row(
            "`Reconciled=True Succeeded`",
            "none",
            "None: the evidence proves the run complete.",
        ),
        Situation::Reconciled(Reason::PartiallySucceeded) => row(
            "`Reconciled=True PartiallySucceeded`",
            "retry what is missing",
            "Retry only what is missing; the stored output is usable as it is.",
        ),
        Situation::Reconciled(Reason::Blocked) => row(
            "`Reconciled=True Blocked`",
            "fix precondition, retry",
            "Fix the precondition named in the message, then retry the run.",
        ),
        Situation::Reconciled(Reason::Failed) => row(
            "`Reconciled=True Failed`",
            "fix cause, retry",
            "Read the failure categories in the message, fix the cause, then retry the run.",
        ),
        Situation::Reconciled(Reason::ScopeMismatch) => row(
            "`Reconciled=False ScopeMismatch`",
            "fix artifact scope",
            "Fix the worker: artifacts must carry the run's uid and schedule/profile.",
        ),
        Situation::Reconciled(Reason::InvalidEvidence) => row(
            "`Reconciled=False InvalidEvidence`",
            "fix artifact counts",
            "Correct the artifact's counts at the worker; the run is judged again.",
        ),
        Situation::Reconciled(Reason::AwaitingEvidence) => row(
            "`Reconciled=False AwaitingEvidence`",
            "check worker alive",
            "Check whether the worker is still alive; if it is not, retry the run.",
        ),
        Situation::Reconciled(Reason::Abandoned) => row(
            "`Reconciled=True Abandoned`",
            "retry; check worker",
            "Treat the run as failed: retry it and find out why its worker stopped.",
        ),
        Situation::UnknownReason => row(
            "`Reconciled` with a reason this plugin does not know",
            "read condition",
            "Read the Reconciled message above; this plugin does not know its reason.",
        ),
        Situation::QueuedTooLong => row(
            "`Stale=True QueuedTooLong` (or stale while Queued), no decision written",
            "check queue",
            "Check the queue and worker capacity: no worker picked the run up.",
        ),
        Situation::HeartbeatExpired => row(
            "`Stale=True HeartbeatExpired` (or stale while Running), no decision written",
            "check worker",
            "Check the worker pod that ran it (logs, OOMKilled, evicted, node drain).",
        ),
        Situation::Running => row("Running, not stale", "none", "None: the worker is running."),
        Situation::Queued => row("Queued, not stale", "none", "None: the run is queued."),
        Situation::WorkerSucceeded => row(
            "Completed by the worker with outcome Succeeded, no controller decision",
            "none",
            "None: the worker reported the run succeeded.",
        ),
        Situation::WorkerReported => row(
            "Completed by the worker with another outcome, no controller decision",
            "follow up outcome",
            "Follow up on the outcome the worker reported; nothing is left to decide.",
        ),
    }
}

/// The one next action for a situation, as `explain` prints it after `Next: `.
pub fn next_action(situation: Situation) -> &'static str {
    action(situation).text
}

/// The short next action for `list`'s NEXT ACTION column.
pub fn short_action(situation: Situation) -> &'static str {
    action(situation).short
}

/// The table as Markdown, exactly as `NEXT_ACTIONS.md` holds it.
pub fn markdown_table() -> String {
    let mut out = String::from("| situation | `list` | `explain` (`Next: …`) |\n|---|---|---|\n");
    for a in Situation::all().into_iter().map(action) {
        out.push_str(&format!("| {} | {} | {} |\n", a.label, a.short, a.text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_situation_is_listed_once() {
        let all = Situation::all();
        for (i, s) in all.iter().enumerate() {
            assert!(!all[..i].contains(s), "{s:?} listed twice");
        }
        for r in Reason::ALL {
            assert!(all.contains(&Situation::Reconciled(r)), "{r:?}");
        }
        assert_eq!(all.len(), Reason::ALL.len() + 7);
    }

    #[test]
    fn actions_are_short_single_sentences() {
        for a in Situation::all().into_iter().map(action) {
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
        for situation in Situation::all() {
            let Some(reason) = situation.reason() else {
                continue;
            };
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("| `{reason}` |")))
                .unwrap_or_else(|| panic!("docs/troubleshooting.md has no row for {reason}"));
            let text = row.trim_end_matches('|').rsplit('|').next().unwrap().trim();
            assert_eq!(text, next_action(situation), "next action for {reason}");
        }
    }
}
