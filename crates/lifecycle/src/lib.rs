//! ECR lifecycle policies: validation and evaluation, with no IO and no clock.
//!
//! [`parse_policy`] checks a policy text the way ECR's `PutLifecyclePolicy` does and returns
//! a typed [`LifecyclePolicy`]. Callers store the text exactly as given, because ECR returns
//! it byte for byte, and parse it again whenever they evaluate it.
//!
//! [`evaluate`] applies a policy to every image of one repository at a given time and returns
//! one [`Decision`] per image: the rule that expires it, or why it is kept. The lifecycle job
//! and `GetLifecyclePolicyPreview` both call it, so a preview shows exactly what the job
//! would delete.
//!
//! Code map:
//! - `policy`: the typed policy and `parse_policy`, which checks the text length and JSON.
//! - `schema`: structural checks worded as ECR's JSON-schema validator words them.
//! - `semantic`: the rules a schema cannot express, such as unique priorities.
//! - `selection`: which images a rule selects by their tags.
//! - `evaluate`: the evaluation algorithm and the decisions it returns.

mod error;
mod evaluate;
mod policy;
mod schema;
mod selection;
mod semantic;

pub use error::PolicyError;
pub use evaluate::{evaluate, Decision, Evaluation, ImageInfo, KeepReason, Outcome};
pub use policy::{
    parse_policy, Action, CountRule, LifecyclePolicy, Rule, Selection, TagStatus, MAX_RULES,
    MAX_TEXT_LENGTH, MAX_WILDCARDS_PER_PATTERN, MIN_TEXT_LENGTH,
};
