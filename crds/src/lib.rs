//! API types of operationrun-controller.
