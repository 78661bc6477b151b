//! Structural checks of a policy document, worded as ECR's JSON-schema validator words them.
//!
//! ECR's messages for a malformed policy are those of a JSON-schema validator, in the wording
//! of the Java `json-schema-validator` library. This module encodes, by hand, a schema that
//! yields the messages seen from ECR:
//!
//! ```text
//! {rules: [1..50 × rule]}                                  no other properties, at any level
//! rule      {rulePriority: integer 1..=2^31-1, description?: string, selection, action}
//! selection {tagStatus: "tagged"|"untagged"|"any", tagPrefixList?: [string],
//!            tagPatternList?: [string], countType: "imageCountMoreThan"|"sinceImagePushed",
//!            countUnit?: "days", countNumber: integer 1..=2^31-1}
//!           oneOf [countType imageCountMoreThan without countUnit,
//!                  countType sinceImagePushed with countUnit]
//! action    {type: "expire"}
//! ```
//!
//! Like that validator, an object is checked at its own level first (type, required
//! properties, properties outside the schema, the `oneOf`), and its members only when that
//! level passes. Members are checked in the order of the sketch above, so the one error
//! reported is the same whatever the key order of the document.

use serde_json::{Map, Value};

use crate::error::PolicyError;
use crate::policy::{Action, CountRule, TagStatus, MAX_RULES};

/// The largest `rulePriority` and `countNumber` accepted.
// NOTE: ECR's real upper bound is unverified. This assumes the fields are 32-bit signed
// integers (Java `int`), which the typed policy's `u32` holds.
const MAX_INTEGER: i64 = i32::MAX as i64;

const TAG_STATUSES: &[(&str, TagStatus)] = &[
    ("tagged", TagStatus::Tagged),
    ("untagged", TagStatus::Untagged),
    ("any", TagStatus::Any),
];

#[derive(Clone, Copy)]
enum CountType {
    ImageCountMoreThan,
    SinceImagePushed,
}

const COUNT_TYPES: &[(&str, CountType)] = &[
    ("imageCountMoreThan", CountType::ImageCountMoreThan),
    ("sinceImagePushed", CountType::SinceImagePushed),
];

const COUNT_UNITS: &[(&str, ())] = &[("days", ())];

const ACTION_TYPES: &[(&str, Action)] = &[("expire", Action::Expire)];

/// A rule that passed the structural checks but not yet the semantic ones.
#[derive(Debug)]
pub(crate) struct DraftRule {
    pub priority: u32,
    pub description: Option<String>,
    pub selection: DraftSelection,
    pub action: Action,
}

/// A selection that passed the structural checks. The tag lists stay optional because the
/// semantic checks reject a list that is present where it is not allowed, even when empty.
#[derive(Debug)]
pub(crate) struct DraftSelection {
    pub tag_status: TagStatus,
    pub tag_prefixes: Option<Vec<String>>,
    pub tag_patterns: Option<Vec<String>>,
    pub count: CountRule,
}

/// Checks the structure of a whole document and returns its rules in document order.
pub(crate) fn check_document(document: &Value) -> Result<Vec<DraftRule>, PolicyError> {
    let root = object(document, &["rules"], &[])?;
    let rules = array(&root["rules"])?;
    if rules.is_empty() {
        return Err(PolicyError::too_few_items(1, 0));
    }
    if rules.len() > MAX_RULES {
        return Err(PolicyError::too_many_items(MAX_RULES, rules.len()));
    }
    rules.iter().map(rule).collect()
}

fn rule(value: &Value) -> Result<DraftRule, PolicyError> {
    let fields = object(
        value,
        &["action", "rulePriority", "selection"],
        &["description"],
    )?;
    let priority = integer(&fields["rulePriority"])?;
    let description = fields.get("description").map(string).transpose()?;
    let selection = selection(&fields["selection"])?;
    let action_fields = object(&fields["action"], &["type"], &[])?;
    let action = enumerated(&action_fields["type"], ACTION_TYPES)?;
    Ok(DraftRule {
        priority,
        description,
        selection,
        action,
    })
}

fn selection(value: &Value) -> Result<DraftSelection, PolicyError> {
    let fields = object(
        value,
        &["countNumber", "countType", "tagStatus"],
        &["countUnit", "tagPatternList", "tagPrefixList"],
    )?;
    check_count_unit_fits(fields)?;
    let tag_status = enumerated(&fields["tagStatus"], TAG_STATUSES)?;
    let tag_prefixes = fields.get("tagPrefixList").map(strings).transpose()?;
    let tag_patterns = fields.get("tagPatternList").map(strings).transpose()?;
    let count_type = enumerated(&fields["countType"], COUNT_TYPES)?;
    if let Some(unit) = fields.get("countUnit") {
        enumerated(unit, COUNT_UNITS)?;
    }
    let count_number = integer(&fields["countNumber"])?;
    let count = match count_type {
        CountType::ImageCountMoreThan => CountRule::ImageCountMoreThan(count_number),
        CountType::SinceImagePushed => CountRule::SinceImagePushedDays(count_number),
    };
    Ok(DraftSelection {
        tag_status,
        tag_prefixes,
        tag_patterns,
        count,
    })
}

/// Checks the schema's `oneOf`: `countUnit` is present exactly when `countType` is
/// `sinceImagePushed`. A present `null` counts as present, as for `required`.
///
/// An unknown `countType` passes here so that it is reported as a value outside the enum,
/// which names the accepted values. Real ECR may report the `oneOf` failure for it instead.
fn check_count_unit_fits(selection: &Map<String, Value>) -> Result<(), PolicyError> {
    let has_unit = selection.contains_key("countUnit");
    let fits = match selection["countType"].as_str() {
        Some("imageCountMoreThan") => !has_unit,
        Some("sinceImagePushed") => has_unit,
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(PolicyError::count_unit_mismatch())
    }
}

/// Checks that a value is an object with every `required` property and no property outside
/// `required` and `optional`.
fn object<'a>(
    value: &'a Value,
    required: &[&str],
    optional: &[&str],
) -> Result<&'a Map<String, Value>, PolicyError> {
    let Value::Object(fields) = value else {
        return Err(PolicyError::wrong_type(value, "object"));
    };
    let mut missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|name| !fields.contains_key(*name))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        return Err(PolicyError::missing_properties(&missing));
    }
    let mut unknown: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|name| !required.contains(name) && !optional.contains(name))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(PolicyError::unknown_properties(&unknown));
    }
    Ok(fields)
}

fn array(value: &Value) -> Result<&Vec<Value>, PolicyError> {
    value
        .as_array()
        .ok_or_else(|| PolicyError::wrong_type(value, "array"))
}

fn string(value: &Value) -> Result<String, PolicyError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| PolicyError::wrong_type(value, "string"))
}

fn strings(value: &Value) -> Result<Vec<String>, PolicyError> {
    array(value)?.iter().map(string).collect()
}

/// Checks an integer from 1 to [`MAX_INTEGER`].
fn integer(value: &Value) -> Result<u32, PolicyError> {
    let Value::Number(number) = value else {
        return Err(PolicyError::wrong_type(value, "integer"));
    };
    if number.as_u64().is_none() && number.as_i64().is_none() {
        return Err(PolicyError::wrong_type(value, "integer"));
    }
    if number.as_i64().is_some_and(|n| n < 1) {
        return Err(PolicyError::below_minimum(1, number));
    }
    match number.as_u64().and_then(|n| u32::try_from(n).ok()) {
        Some(n) if i64::from(n) <= MAX_INTEGER => Ok(n),
        _ => Err(PolicyError::above_maximum(MAX_INTEGER, number)),
    }
}

/// Checks a string from a fixed set and returns the value paired with it.
fn enumerated<T: Copy>(value: &Value, variants: &[(&str, T)]) -> Result<T, PolicyError> {
    let text = value
        .as_str()
        .ok_or_else(|| PolicyError::wrong_type(value, "string"))?;
    variants
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, variant)| *variant)
        .ok_or_else(|| {
            let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
            PolicyError::not_in_enum(value, &names)
        })
}
