//! The words conditions are made of, as types: condition types, reasons, the rows of the
//! decision table and the timestamps staleness is measured from. Each serializes to the
//! exact string (or number) users see, so typing them changes no output.

use std::fmt;

/// The condition types this controller owns; every other condition on a run is left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConditionType {
    /// Whether the run is stale (see docs/concepts.md#staleness).
    Stale,
    /// The controller's decision about a stale run (see docs/concepts.md#the-decision-table).
    Reconciled,
}

impl ConditionType {
    /// Both owned types, in the order conditions are written (`Stale` first).
    pub const ALL: [ConditionType; 2] = [ConditionType::Stale, ConditionType::Reconciled];

    /// The `type` string of the condition.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionType::Stale => "Stale",
            ConditionType::Reconciled => "Reconciled",
        }
    }

    /// Reads a condition's `type`; `None` for conditions the controller does not own.
    pub fn parse(value: &str) -> Option<ConditionType> {
        ConditionType::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

impl fmt::Display for ConditionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a condition, as Kubernetes spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// `"True"`.
    True,
    /// `"False"`.
    False,
}

impl ConditionStatus {
    /// The status string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
        }
    }

    /// `True` for `true`.
    pub const fn from_bool(value: bool) -> ConditionStatus {
        if value {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }

    /// Whether a stored status string is this status.
    pub fn is(self, stored: &str) -> bool {
        stored == self.as_str()
    }
}

/// The reason of a `Reconciled` condition: one per row of the decision table, and
/// `Abandoned`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Rule 1.
    UnsupportedFamily,
    /// Rule 2.
    InvalidRun,
    /// Rule 3.
    AmbiguousEvidence,
    /// Rule 4.
    Succeeded,
    /// Rule 5.
    PartiallySucceeded,
    /// Rule 6.
    Blocked,
    /// Rule 7.
    Failed,
    /// Rule 8.
    ScopeMismatch,
    /// Rule 9.
    InvalidEvidence,
    /// Rule 10.
    AwaitingEvidence,
    /// An undecided run closed as not proven after the abandon-after period.
    Abandoned,
}

impl Reason {
    /// All reasons, in table order, Abandoned last.
    pub const ALL: [Reason; 11] = [
        Reason::UnsupportedFamily,
        Reason::InvalidRun,
        Reason::AmbiguousEvidence,
        Reason::Succeeded,
        Reason::PartiallySucceeded,
        Reason::Blocked,
        Reason::Failed,
        Reason::ScopeMismatch,
        Reason::InvalidEvidence,
        Reason::AwaitingEvidence,
        Reason::Abandoned,
    ];

    /// The condition reason string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::UnsupportedFamily => "UnsupportedFamily",
            Reason::InvalidRun => "InvalidRun",
            Reason::AmbiguousEvidence => "AmbiguousEvidence",
            Reason::Succeeded => "Succeeded",
            Reason::PartiallySucceeded => "PartiallySucceeded",
            Reason::Blocked => "Blocked",
            Reason::Failed => "Failed",
            Reason::ScopeMismatch => "ScopeMismatch",
            Reason::InvalidEvidence => "InvalidEvidence",
            Reason::AwaitingEvidence => "AwaitingEvidence",
            Reason::Abandoned => "Abandoned",
        }
    }

    /// Reads a stored reason; `None` for text this controller never writes.
    pub fn parse(value: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// Whether the Event for this reason is a Warning (someone should look) or Normal.
    pub fn is_warning(self) -> bool {
        !matches!(
            self,
            Reason::Succeeded | Reason::PartiallySucceeded | Reason::AwaitingEvidence
        )
    }

    /// The row of the decision table that gives this reason; `None` for `Abandoned`, which
    /// replaces the decision of another row.
    pub fn rule(self) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.reason() == self)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row of the decision table (docs/concepts.md#the-decision-table); the first row that
/// matches decides. Shown as its number (`"rule": 5` in `evaluate -o json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// 1: the family is unsupported or unknown.
    UnsupportedFamily,
    /// 2: a reference or policy-type list the family requires is missing.
    InvalidRun,
    /// 3: more than one in-scope claim, or a policy type covered twice.
    AmbiguousEvidence,
    /// 4: the one in-scope claim, or the coverage, is complete.
    Complete,
    /// 5: usable output exists.
    UsableOutput,
    /// 6: a precondition failure is recorded.
    PreconditionFailure,
    /// 7: another failure is recorded.
    Failure,
    /// 8: only out-of-scope claims or coverage exist.
    OutOfScope,
    /// 9: the only in-scope claim is malformed.
    MalformedClaim,
    /// 10: no evidence yet, or an unfinished claim.
    NoEvidence,
}

impl Rule {
    /// Every row, in table order.
    pub const ALL: [Rule; 10] = [
        Rule::UnsupportedFamily,
        Rule::InvalidRun,
        Rule::AmbiguousEvidence,
        Rule::Complete,
        Rule::UsableOutput,
        Rule::PreconditionFailure,
        Rule::Failure,
        Rule::OutOfScope,
        Rule::MalformedClaim,
        Rule::NoEvidence,
    ];

    /// The row's number, 1 to 10.
    pub const fn number(self) -> u8 {
        match self {
            Rule::UnsupportedFamily => 1,
            Rule::InvalidRun => 2,
            Rule::AmbiguousEvidence => 3,
            Rule::Complete => 4,
            Rule::UsableOutput => 5,
            Rule::PreconditionFailure => 6,
            Rule::Failure => 7,
            Rule::OutOfScope => 8,
            Rule::MalformedClaim => 9,
            Rule::NoEvidence => 10,
        }
    }

    /// The row with this number.
    pub fn from_number(number: u8) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.number() == number)
    }

    /// The reason the row gives.
    pub const fn reason(self) -> Reason {
        match self {
            Rule::UnsupportedFamily => Reason::UnsupportedFamily,
            Rule::InvalidRun => Reason::InvalidRun,
            Rule::AmbiguousEvidence => Reason::AmbiguousEvidence,
            Rule::Complete => Reason::Succeeded,
            Rule::UsableOutput => Reason::PartiallySucceeded,
            Rule::PreconditionFailure => Reason::Blocked,
            Rule::Failure => Reason::Failed,
            Rule::OutOfScope => Reason::ScopeMismatch,
            Rule::MalformedClaim => Reason::InvalidEvidence,
            Rule::NoEvidence => Reason::AwaitingEvidence,
        }
    }

    /// Whether the row takes a final decision (`Reconciled=True`): rows 4 to 7 do, the
    /// others refuse to decide (`Reconciled=False`).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Rule::Complete | Rule::UsableOutput | Rule::PreconditionFailure | Rule::Failure
        )
    }

    /// What the row means, in a few words (for `kubectl oprun explain --diagnostics`).
    pub const fn describe(self) -> &'static str {
        match self {
            Rule::UnsupportedFamily => "the family is unsupported or unknown",
            Rule::InvalidRun => "the run lacks a field its family requires",
            Rule::AmbiguousEvidence => "more than one in-scope claim",
            Rule::Complete => "the in-scope evidence is complete",
            Rule::UsableOutput => "usable output exists",
            Rule::PreconditionFailure => "a precondition failure is recorded",
            Rule::Failure => "other failures are recorded",
            Rule::OutOfScope => "only out-of-scope evidence exists",
            Rule::MalformedClaim => "the only in-scope claim is malformed",
            Rule::NoEvidence => "no finished evidence yet",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

/// Why a run is stale; the reason of `Stale=True`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleReason {
    /// Queued for longer than the queued timeout.
    QueuedTooLong,
    /// Running without a heartbeat for longer than the heartbeat timeout.
    HeartbeatExpired,
}

impl StaleReason {
    /// The condition reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            StaleReason::QueuedTooLong => "QueuedTooLong",
            StaleReason::HeartbeatExpired => "HeartbeatExpired",
        }
    }
}

/// Why a stale run is no longer stale; the reason of `Stale=False`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreshReason {
    /// The worker reported `Completed`.
    WorkerCompleted,
    /// The worker reported progress in any other phase.
    Resumed,
}

impl FreshReason {
    /// The condition reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            FreshReason::WorkerCompleted => "WorkerCompleted",
            FreshReason::Resumed => "Resumed",
        }
    }
}

/// The timestamp a run's staleness is measured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceField {
    /// `metadata.creationTimestamp`: queued runs, and running runs without a later time.
    CreationTimestamp,
    /// `status.heartbeatTime`: the worker's last heartbeat.
    HeartbeatTime,
    /// `status.startedAt`: a running run that never heartbeated.
    StartedAt,
}

impl ReferenceField {
    /// The field's name as users know it from the manifest.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReferenceField::CreationTimestamp => "creationTimestamp",
            ReferenceField::HeartbeatTime => "heartbeatTime",
            ReferenceField::StartedAt => "startedAt",
        }
    }
}

impl fmt::Display for ReferenceField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
