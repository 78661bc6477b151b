//! The error that [`crate::parse_policy`] returns, worded as ECR words it.

use serde_json::{Number, Value};

/// A rejected lifecycle policy text.
///
/// `Display` gives the whole message that ECR sends in its `InvalidParameterException`, and
/// [`PolicyError::detail`] gives the part after `Lifecycle policy validation failure: `.
/// Every rejection maps to `InvalidParameterException`, so the error has no kinds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: \
     'Lifecycle policy validation failure: {detail}'"
)]
pub struct PolicyError {
    detail: String,
}

impl PolicyError {
    pub(crate) fn new(detail: impl Into<String>) -> Self {
        PolicyError {
            detail: detail.into(),
        }
    }

    /// Returns the reason alone, without ECR's fixed prefix.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Rejects a value of the wrong JSON type, such as an explicit `null`.
    pub(crate) fn wrong_type(found: &Value, allowed: &str) -> Self {
        let found = json_type_name(found);
        PolicyError::new(format!(
            "instance type ({found}) does not match any allowed primitive type \
             (allowed: [\"{allowed}\"])"
        ))
    }

    /// Rejects an object that lacks required properties, which are listed in sorted order.
    pub(crate) fn missing_properties(names: &[&str]) -> Self {
        let names = json_list(names);
        PolicyError::new(format!("object has missing required properties ({names})"))
    }

    /// Rejects an object with properties outside the schema, which are listed in sorted order.
    pub(crate) fn unknown_properties(names: &[&str]) -> Self {
        let names = json_list(names);
        PolicyError::new(format!(
            "object instance has properties which are not allowed by the schema: {names}"
        ))
    }

    /// Rejects a value outside a fixed set of strings.
    pub(crate) fn not_in_enum(found: &Value, allowed: &[&str]) -> Self {
        let allowed = json_list(allowed);
        PolicyError::new(format!(
            "instance value ({found}) not found in enum (possible values: {allowed})"
        ))
    }

    pub(crate) fn below_minimum(minimum: i64, found: &Number) -> Self {
        PolicyError::new(format!(
            "numeric instance is lower than the required minimum \
             (minimum: {minimum}, found: {found})"
        ))
    }

    pub(crate) fn above_maximum(maximum: i64, found: &Number) -> Self {
        PolicyError::new(format!(
            "numeric instance is greater than the required maximum \
             (maximum: {maximum}, found: {found})"
        ))
    }

    pub(crate) fn too_few_items(minimum: usize, found: usize) -> Self {
        PolicyError::new(format!(
            "array is too short: must have at least {minimum} elements \
             but instance has {found} elements"
        ))
    }

    pub(crate) fn too_many_items(maximum: usize, found: usize) -> Self {
        PolicyError::new(format!(
            "array is too long: must have at most {maximum} elements \
             but instance has {found} elements"
        ))
    }

    /// Rejects a selection whose `countUnit` does not fit its `countType`. ECR reports this
    /// as a `oneOf` of two schemas, one per `countType`, that both fail.
    pub(crate) fn count_unit_mismatch() -> Self {
        PolicyError::new("instance failed to match exactly one schema (matched 0 out of 2)")
    }
}

/// Names the JSON type of a value as JSON Schema does.
fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Writes names as a compact JSON array, `["a","b"]`, as the validator prints lists.
fn json_list(names: &[&str]) -> String {
    serde_json::to_string(names).expect("a list of strings always serializes")
}

#[cfg(test)]
mod tests {
    use super::{json_type_name, PolicyError};

    #[test]
    fn display_wraps_detail_in_ecr_message() {
        let error = PolicyError::new("some detail");
        assert_eq!(
            error.to_string(),
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: \
             'Lifecycle policy validation failure: some detail'"
        );
        assert_eq!(error.detail(), "some detail");
    }

    #[test]
    fn type_names_follow_json_schema() {
        let cases = [
            (serde_json::json!(null), "null"),
            (serde_json::json!(true), "boolean"),
            (serde_json::json!(-3), "integer"),
            (serde_json::json!(1.5), "number"),
            (serde_json::json!("x"), "string"),
            (serde_json::json!([]), "array"),
            (serde_json::json!({}), "object"),
        ];
        for (value, expected) in cases {
            assert_eq!(json_type_name(&value), expected, "type name of {value}");
        }
    }
}
