//! operationrun-controller library.
