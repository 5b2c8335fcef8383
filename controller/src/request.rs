//! Every request but a watch carries a deadline, so that a connection that hangs without
//! closing never holds a reconcile slot, a Lease renewal or an Event for longer than that;
//! and every failure is classed, so that a reconcile knows whether to look again at once
//! (a conflict), wait as told (429), back off (a transient fault) or stop asking until the
//! run changes (any other 4xx).

use std::future::Future;
use std::time::Duration;

/// A request that failed: refused or unreachable, or past its deadline.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The API server answered with an error, or could not be reached.
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// No answer within the deadline: the connection may hang without closing.
    #[error("{what}: no answer within {after:?}")]
    Timeout {
        /// The request, e.g. "status write".
        what: &'static str,
        /// The deadline it was given.
        after: Duration,
    },
}

/// What a failure means for the next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// 409: the object changed since it was read; look again.
    Conflict,
    /// 429: the API server asks to wait (its Retry-After, when it gives one).
    Throttled(Option<Duration>),
    /// A 4xx other than 409 and 429: asking again unchanged gets the same answer.
    Permanent(u16),
    /// A timeout, a 5xx, a broken connection: it may work in a moment.
    Transient,
}

impl RequestError {
    /// The HTTP status code of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            RequestError::Api(kube::Error::Api(s)) => Some(s.code),
            _ => None,
        }
    }

    /// How to treat the next attempt.
    pub fn class(&self) -> Class {
        match self {
            RequestError::Api(kube::Error::Api(s)) => match s.code {
                409 => Class::Conflict,
                429 => Class::Throttled(
                    s.details
                        .as_ref()
                        .map(|d| d.retry_after_seconds)
                        .filter(|s| *s > 0)
                        .map(|s| Duration::from_secs(u64::from(s))),
                ),
                400..=499 => Class::Permanent(s.code),
                _ => Class::Transient,
            },
            _ => Class::Transient,
        }
    }

    /// The metric label: the status code, `timeout`, or `transport` for anything else.
    pub fn label(&self) -> String {
        match self {
            RequestError::Api(kube::Error::Api(s)) => s.code.to_string(),
            RequestError::Timeout { .. } => "timeout".to_string(),
            RequestError::Api(_) => "transport".to_string(),
        }
    }
}

/// Runs `request` with a deadline: past it, the request is dropped (its connection with it)
/// and a [`RequestError::Timeout`] returned.
pub async fn within<T>(
    what: &'static str,
    after: Duration,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, RequestError> {
    match tokio::time::timeout(after, request).await {
        Ok(result) => result.map_err(RequestError::Api),
        Err(_) => Err(RequestError::Timeout { what, after }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{Status, response::StatusDetails};

    fn api(code: u16, retry_after: u32) -> RequestError {
        let mut status = Status::failure("refused", "Reason");
        status.code = code;
        if retry_after > 0 {
            let details: StatusDetails =
                serde_json::from_value(serde_json::json!({ "retryAfterSeconds": retry_after }))
                    .unwrap_or_else(|e| panic!("status details: {e}"));
            status.details = Some(details);
        }
        RequestError::Api(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn failures_are_classed_as_a_retry_needs() {
        assert_eq!(api(409, 0).class(), Class::Conflict);
        assert_eq!(
            api(429, 7).class(),
            Class::Throttled(Some(Duration::from_secs(7)))
        );
        assert_eq!(api(429, 0).class(), Class::Throttled(None));
        for code in [400, 403, 404, 422] {
            assert_eq!(api(code, 0).class(), Class::Permanent(code));
        }
        assert_eq!(api(500, 0).class(), Class::Transient);
        assert_eq!(api(503, 0).class(), Class::Transient);
        let timeout = RequestError::Timeout {
            what: "status write",
            after: Duration::from_secs(5),
        };
        assert_eq!(timeout.class(), Class::Transient);
        assert_eq!(timeout.label(), "timeout");
        assert_eq!(api(403, 0).label(), "403");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_never_answers_ends_at_its_deadline() {
        let started = tokio::time::Instant::now();
        let hung = std::future::pending::<Result<(), kube::Error>>();
        let result = within("hung", Duration::from_secs(5), hung).await;
        assert!(matches!(result, Err(RequestError::Timeout { .. })));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
