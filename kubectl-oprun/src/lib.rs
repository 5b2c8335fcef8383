//! `kubectl oprun`: the operator-facing view of OperationRuns. It shows what the
//! controller stored, one next action per run, and the evidence only when asked.

pub mod actions;
pub mod diagnostics;
pub mod render;
pub mod source;
pub mod view;

/// Why a command failed; the exit code tells scripts whether to fix their input or retry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, files or kubeconfig: exit code 2.
    #[error("{0}")]
    Input(String),
    /// The cluster could not be reached or refused: exit code 1.
    #[error("{0}")]
    Cluster(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) => 2,
            Error::Cluster(_) => 1,
        }
    }
}
