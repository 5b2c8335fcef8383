//! One adapter per family that can be decided from evidence. An adapter reads the run and
//! its claims and reports [`Findings`]; the outcome table (not the adapter) decides.

pub mod adapter;
pub mod backup;
pub mod baseline;
pub mod claims;
pub mod inventory;
pub mod report;

pub use adapter::{
    Adapter, Findings, NO_CATEGORY, PRECONDITION_CATEGORIES, categories, category_list,
    is_precondition,
};
pub use claims::{ClaimScope, scope_of};
pub use report::{ClaimReport, ClaimStanding, Coverage, CoverageLine};
