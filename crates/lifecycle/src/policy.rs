//! The typed lifecycle policy and [`parse_policy`], which validates a policy text.
//!
//! Validation runs in ECR's order and reports the first failure only: the text length, then
//! the JSON syntax, then the structure (see `schema`), then the rules between fields and
//! between rules (see `semantic`).

use crate::error::PolicyError;
use crate::{schema, semantic};

/// Minimum length of a policy text in characters, from the ECR API model.
pub const MIN_TEXT_LENGTH: usize = 100;

/// Maximum length of a policy text in characters, from the ECR API model.
pub const MAX_TEXT_LENGTH: usize = 30_720;

/// Maximum number of rules in one policy (the ECR quota "Rules per lifecycle policy").
pub const MAX_RULES: usize = 50;

/// Maximum number of `*` wildcards in one `tagPatternList` entry.
pub const MAX_WILDCARDS_PER_PATTERN: usize = 4;

/// A validated lifecycle policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// The rules in ascending `rulePriority`, which is the order they apply in. Priorities are
    /// unique.
    pub rules: Vec<Rule>,
}

/// One rule of a policy: which images it selects and what it does to them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule's `rulePriority`: at least 1, and lower values apply first.
    pub priority: u32,
    pub description: Option<String>,
    pub selection: Selection,
    pub action: Action,
}

/// The `selection` of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub tag_status: TagStatus,
    /// `tagPrefixList`: an image matches when each prefix starts at least one of its tags.
    /// Empty unless `tag_status` is `Tagged`.
    pub tag_prefixes: Vec<String>,
    /// `tagPatternList`: an image matches when each pattern matches at least one of its whole
    /// tags, with `*` standing for any run of characters. Empty unless `tag_status` is
    /// `Tagged`, and a parsed policy never sets both lists on one rule.
    pub tag_patterns: Vec<String>,
    pub count: CountRule,
}

/// The `tagStatus` of a selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TagStatus {
    /// Images with at least one tag that also match the prefix or pattern list.
    Tagged,
    /// Images without tags.
    Untagged,
    /// Every image.
    Any,
}

impl TagStatus {
    /// Returns the value as the policy JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TagStatus::Tagged => "tagged",
            TagStatus::Untagged => "untagged",
            TagStatus::Any => "any",
        }
    }
}

/// The `countType` of a selection with its `countNumber`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountRule {
    /// `imageCountMoreThan`: keep the newest N selected images and expire the rest.
    ImageCountMoreThan(u32),
    /// `sinceImagePushed` with `countUnit: days`: expire selected images pushed more than
    /// N × 24 hours ago.
    SinceImagePushedDays(u32),
}

/// The `action` of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `expire`: delete the image with all its tags.
    Expire,
}

/// Validates a policy text as ECR's `PutLifecyclePolicy` does and returns the typed policy.
///
/// The error's `Display` is the full message for ECR's `InvalidParameterException`. Store the
/// text itself, not a re-serialization of the result, because ECR returns the text unchanged.
pub fn parse_policy(text: &str) -> Result<LifecyclePolicy, PolicyError> {
    check_length(text)?;
    let document: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        PolicyError::new(format!("lifecyclePolicyText is not valid JSON: {error}"))
    })?;
    let drafts = schema::check_document(&document)?;
    let rules = semantic::check_rules(drafts)?;
    Ok(LifecyclePolicy { rules })
}

/// Checks the length in characters (Unicode scalar values), the unit of the API model's limits.
fn check_length(text: &str) -> Result<(), PolicyError> {
    let length = text.chars().count();
    if length < MIN_TEXT_LENGTH {
        return Err(PolicyError::new(format!(
            "lifecyclePolicyText is too short (length: {length}, minimum: {MIN_TEXT_LENGTH})"
        )));
    }
    if length > MAX_TEXT_LENGTH {
        return Err(PolicyError::new(format!(
            "lifecyclePolicyText is too long (length: {length}, maximum: {MAX_TEXT_LENGTH})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::{
        parse_policy, Action, CountRule, LifecyclePolicy, Rule, Selection, TagStatus, MAX_RULES,
        MAX_TEXT_LENGTH,
    };

    /// Serializes a document and pads it with trailing spaces, which JSON ignores, so that a
    /// short document passes the length check and reaches the check under test.
    fn padded(document: &Value) -> String {
        format!("{:<100}", document.to_string())
    }

    fn rule(priority: u32, selection: Value) -> Value {
        json!({ "rulePriority": priority, "selection": selection, "action": { "type": "expire" } })
    }

    fn keep_newest(tag_status: &str, count: u32) -> Value {
        json!({ "tagStatus": tag_status, "countType": "imageCountMoreThan", "countNumber": count })
    }

    fn tagged(list: &str, entries: &[&str]) -> Value {
        let mut selection = keep_newest("tagged", 1);
        selection[list] = json!(entries);
        selection
    }

    fn older_than_days(tag_status: &str, days: u32) -> Value {
        json!({
            "tagStatus": tag_status,
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": days
        })
    }

    fn policy(rules: Vec<Value>) -> String {
        padded(&json!({ "rules": rules }))
    }

    /// Builds a valid one-rule policy, `{"rules":[{rulePriority, selection, action}]}`.
    fn valid_document() -> Value {
        json!({ "rules": [rule(1, keep_newest("any", 1))] })
    }

    /// Builds the valid policy with the value at a JSON pointer replaced, or added if absent.
    fn edited(pointer: &str, value: Value) -> String {
        let mut document = valid_document();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
        let parent = document
            .pointer_mut(parent)
            .expect("parent exists in the valid policy");
        parent[key] = value;
        padded(&document)
    }

    /// Builds the valid policy without the member at a JSON pointer.
    fn removed(pointer: &str) -> String {
        let mut document = valid_document();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
        let parent = document
            .pointer_mut(parent)
            .expect("parent exists in the valid policy");
        parent
            .as_object_mut()
            .expect("parent is an object")
            .remove(key);
        padded(&document)
    }

    const ONE_OF: &str = "instance failed to match exactly one schema (matched 0 out of 2)";

    /// Invalid policy texts, each with the exact detail ECR's message must carry.
    fn invalid_cases() -> Vec<(&'static str, String, &'static str)> {
        vec![
            (
                "text shorter than 100 characters",
                "{}".to_owned(),
                "lifecyclePolicyText is too short (length: 2, minimum: 100)",
            ),
            (
                "text longer than 30720 characters",
                format!("{:<30721}", "{}"),
                "lifecyclePolicyText is too long (length: 30721, maximum: 30720)",
            ),
            (
                "unparsable JSON",
                format!("{:<100}", r#"{"rules": x}"#),
                "lifecyclePolicyText is not valid JSON: expected value at line 1 column 11",
            ),
            (
                "document that is not an object",
                padded(&json!([])),
                r#"instance type (array) does not match any allowed primitive type (allowed: ["object"])"#,
            ),
            (
                "document without rules",
                padded(&json!({ "rule": [] })),
                r#"object has missing required properties (["rules"])"#,
            ),
            (
                "unknown top-level property",
                edited("/version", json!(1)),
                r#"object instance has properties which are not allowed by the schema: ["version"]"#,
            ),
            (
                "null rules",
                edited("/rules", Value::Null),
                r#"instance type (null) does not match any allowed primitive type (allowed: ["array"])"#,
            ),
            (
                "empty rules",
                policy(vec![]),
                "array is too short: must have at least 1 elements but instance has 0 elements",
            ),
            (
                "51 rules",
                policy(
                    (1..=51)
                        .map(|p| rule(p, tagged("tagPrefixList", &["x"])))
                        .collect(),
                ),
                "array is too long: must have at most 50 elements but instance has 51 elements",
            ),
            (
                "rule that is a string",
                padded(&json!({ "rules": ["rule"] })),
                r#"instance type (string) does not match any allowed primitive type (allowed: ["object"])"#,
            ),
            (
                "rule without selection and action",
                padded(&json!({ "rules": [{ "rulePriority": 1, "description": "nothing" }] })),
                r#"object has missing required properties (["action","selection"])"#,
            ),
            (
                "unknown rule property",
                edited("/rules/0/priority", json!(1)),
                r#"object instance has properties which are not allowed by the schema: ["priority"]"#,
            ),
            (
                "rulePriority 0",
                edited("/rules/0/rulePriority", json!(0)),
                "numeric instance is lower than the required minimum (minimum: 1, found: 0)",
            ),
            (
                "negative rulePriority",
                edited("/rules/0/rulePriority", json!(-3)),
                "numeric instance is lower than the required minimum (minimum: 1, found: -3)",
            ),
            (
                "rulePriority above the 32-bit signed range",
                edited("/rules/0/rulePriority", json!(2_147_483_648_u64)),
                "numeric instance is greater than the required maximum \
                 (maximum: 2147483647, found: 2147483648)",
            ),
            (
                "rulePriority as a string",
                edited("/rules/0/rulePriority", json!("1")),
                r#"instance type (string) does not match any allowed primitive type (allowed: ["integer"])"#,
            ),
            (
                "fractional rulePriority",
                edited("/rules/0/rulePriority", json!(1.5)),
                r#"instance type (number) does not match any allowed primitive type (allowed: ["integer"])"#,
            ),
            (
                "null description",
                edited("/rules/0/description", Value::Null),
                r#"instance type (null) does not match any allowed primitive type (allowed: ["string"])"#,
            ),
            (
                "null selection",
                edited("/rules/0/selection", Value::Null),
                r#"instance type (null) does not match any allowed primitive type (allowed: ["object"])"#,
            ),
            (
                "selection without countNumber",
                removed("/rules/0/selection/countNumber"),
                r#"object has missing required properties (["countNumber"])"#,
            ),
            (
                "selection with storageClass",
                edited("/rules/0/selection/storageClass", json!("standard")),
                r#"object instance has properties which are not allowed by the schema: ["storageClass"]"#,
            ),
            (
                "tagStatus in capitals",
                edited("/rules/0/selection/tagStatus", json!("TAGGED")),
                r#"instance value ("TAGGED") not found in enum (possible values: ["tagged","untagged","any"])"#,
            ),
            (
                "countType sinceImagePulled",
                edited("/rules/0/selection/countType", json!("sinceImagePulled")),
                r#"instance value ("sinceImagePulled") not found in enum (possible values: ["imageCountMoreThan","sinceImagePushed"])"#,
            ),
            (
                "countUnit with imageCountMoreThan",
                edited("/rules/0/selection/countUnit", json!("days")),
                ONE_OF,
            ),
            (
                "null countUnit with imageCountMoreThan",
                edited("/rules/0/selection/countUnit", Value::Null),
                ONE_OF,
            ),
            (
                "sinceImagePushed without countUnit",
                edited("/rules/0/selection/countType", json!("sinceImagePushed")),
                ONE_OF,
            ),
            (
                "countUnit hours",
                edited(
                    "/rules/0/selection",
                    json!({
                        "tagStatus": "any", "countType": "sinceImagePushed",
                        "countUnit": "hours", "countNumber": 1
                    }),
                ),
                r#"instance value ("hours") not found in enum (possible values: ["days"])"#,
            ),
            (
                "null countUnit with sinceImagePushed",
                edited(
                    "/rules/0/selection",
                    json!({
                        "tagStatus": "any", "countType": "sinceImagePushed",
                        "countUnit": null, "countNumber": 1
                    }),
                ),
                r#"instance type (null) does not match any allowed primitive type (allowed: ["string"])"#,
            ),
            (
                "countNumber 0",
                edited("/rules/0/selection/countNumber", json!(0)),
                "numeric instance is lower than the required minimum (minimum: 1, found: 0)",
            ),
            (
                "null countNumber",
                edited("/rules/0/selection/countNumber", Value::Null),
                r#"instance type (null) does not match any allowed primitive type (allowed: ["integer"])"#,
            ),
            (
                "null tagPrefixList",
                edited("/rules/0/selection/tagPrefixList", Value::Null),
                r#"instance type (null) does not match any allowed primitive type (allowed: ["array"])"#,
            ),
            (
                "number in tagPatternList",
                edited("/rules/0/selection/tagPatternList", json!(["v*", 7])),
                r#"instance type (integer) does not match any allowed primitive type (allowed: ["string"])"#,
            ),
            (
                "action type transition",
                edited("/rules/0/action/type", json!("transition")),
                r#"instance value ("transition") not found in enum (possible values: ["expire"])"#,
            ),
            (
                "action with targetStorageClass",
                edited("/rules/0/action/targetStorageClass", json!("archive")),
                r#"object instance has properties which are not allowed by the schema: ["targetStorageClass"]"#,
            ),
            (
                "null action",
                edited("/rules/0/action", Value::Null),
                r#"instance type (null) does not match any allowed primitive type (allowed: ["object"])"#,
            ),
            (
                "duplicate rulePriority",
                policy(vec![
                    rule(2, tagged("tagPrefixList", &["a"])),
                    rule(2, tagged("tagPrefixList", &["b"])),
                ]),
                "rulePriority 2 is used by more than one rule, \
                 but each rule needs a unique rulePriority",
            ),
            (
                "any rule before a tagged rule",
                policy(vec![
                    rule(1, tagged("tagPrefixList", &["a"])),
                    rule(2, keep_newest("any", 1)),
                    rule(3, tagged("tagPrefixList", &["b"])),
                ]),
                "rulePriority 2: tagStatus 'any' requires the highest rulePriority in the policy, \
                 but rulePriority 3 is higher",
            ),
            (
                "two any rules",
                policy(vec![
                    rule(4, keep_newest("any", 5)),
                    rule(9, keep_newest("any", 1)),
                ]),
                "rulePriority 4: tagStatus 'any' requires the highest rulePriority in the policy, \
                 but rulePriority 9 is higher",
            ),
            (
                "two untagged rules",
                policy(vec![
                    rule(3, keep_newest("untagged", 1)),
                    rule(1, older_than_days("untagged", 5)),
                ]),
                "rulePriority 3: tagStatus 'untagged' is also used by rulePriority 1, \
                 but only one rule can select untagged images",
            ),
            (
                "tagged rule without lists",
                policy(vec![rule(1, keep_newest("tagged", 1))]),
                "rulePriority 1: tagStatus 'tagged' requires a non-empty tagPrefixList \
                 or tagPatternList",
            ),
            (
                "tagged rule with an empty tagPrefixList",
                policy(vec![rule(1, tagged("tagPrefixList", &[]))]),
                "rulePriority 1: tagStatus 'tagged' requires a non-empty tagPrefixList \
                 or tagPatternList",
            ),
            (
                "tagged rule with both lists",
                policy(vec![rule(1, {
                    let mut selection = tagged("tagPrefixList", &["v"]);
                    selection["tagPatternList"] = json!(["v*"]);
                    selection
                })]),
                "rulePriority 1: tagPrefixList and tagPatternList are both set, \
                 but a rule can use only one of them",
            ),
            (
                "untagged rule with tagPrefixList",
                edited("/rules/0/selection", {
                    let mut selection = keep_newest("untagged", 1);
                    selection["tagPrefixList"] = json!(["v"]);
                    selection
                }),
                "rulePriority 1: tagPrefixList is only allowed with tagStatus 'tagged', \
                 not 'untagged'",
            ),
            (
                "any rule with an empty tagPatternList",
                edited("/rules/0/selection/tagPatternList", json!([])),
                "rulePriority 1: tagPatternList is only allowed with tagStatus 'tagged', not 'any'",
            ),
            (
                "pattern with five wildcards",
                policy(vec![rule(
                    1,
                    tagged("tagPatternList", &["ok*", "a*b*c*d*e*f"]),
                )]),
                "rulePriority 1: tagPatternList entry 'a*b*c*d*e*f' has 5 wildcards, \
                 but at most 4 are allowed",
            ),
            (
                "two rules with the same prefixes",
                policy(vec![
                    rule(1, tagged("tagPrefixList", &["b", "a"])),
                    rule(2, tagged("tagPrefixList", &["a", "b", "a"])),
                ]),
                "rulePriority 2: tagPrefixList has the same prefixes as rulePriority 1, \
                 but each rule needs a unique set of tag prefixes",
            ),
        ]
    }

    #[test]
    fn invalid_policies_report_exact_detail() {
        let mut failures = Vec::new();
        for (case, text, expected) in invalid_cases() {
            match parse_policy(&text) {
                Ok(_) => failures.push(format!("{case}: accepted")),
                Err(error) if error.detail() != expected => failures.push(format!(
                    "{case}:\n  expected: {expected}\n  actual:   {}",
                    error.detail()
                )),
                Err(_) => {}
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn invalid_policy_message_has_ecr_prefix() {
        let error = parse_policy(&edited("/rules/0/rulePriority", json!(0))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: \
             'Lifecycle policy validation failure: numeric instance is lower than the required \
             minimum (minimum: 1, found: 0)'"
        );
    }

    #[test]
    fn text_length_limits_are_inclusive() {
        // No valid policy is as short as 100 characters, so the lower limit shows in which
        // check fails.
        let below_min = parse_policy(&format!("{:<99}", "{}")).unwrap_err();
        assert_eq!(
            below_min.detail(),
            "lifecyclePolicyText is too short (length: 99, minimum: 100)"
        );
        let at_min = parse_policy(&format!("{:<100}", "{}")).unwrap_err();
        assert_eq!(
            at_min.detail(),
            r#"object has missing required properties (["rules"])"#
        );

        let at_max = format!("{:<30720}", valid_document().to_string());
        assert!(
            parse_policy(&at_max).is_ok(),
            "text of exactly 30720 characters"
        );
    }

    #[test]
    fn text_length_counts_characters_not_bytes() {
        let mut document = valid_document();
        document["rules"][0]["description"] = json!("é".repeat(40));
        let text = format!("{:<30720}", document.to_string());
        assert!(
            text.len() > MAX_TEXT_LENGTH,
            "the text has more bytes than the limit"
        );
        assert!(parse_policy(&text).is_ok());
    }

    #[test]
    fn parse_accepts_other_limits() {
        let fifty = (1..=50).map(|p| rule(p, tagged("tagPrefixList", &[&p.to_string()])));
        assert_eq!(
            parse_policy(&policy(fifty.collect())).unwrap().rules.len(),
            MAX_RULES
        );

        let four_wildcards = tagged("tagPatternList", &["*test*1*2*3", "test*1*2*3*"]);
        assert!(
            parse_policy(&policy(vec![rule(1, four_wildcards)])).is_ok(),
            "patterns with four wildcards"
        );
    }

    #[test]
    fn parse_accepts_untagged_and_any_together() {
        let text = policy(vec![
            rule(1, older_than_days("untagged", 1)),
            rule(2, keep_newest("any", 5)),
        ]);
        assert!(parse_policy(&text).is_ok());
    }

    #[test]
    fn parse_sorts_rules_by_priority() {
        let text = policy(vec![
            rule(10, keep_newest("any", 3)),
            rule(2, keep_newest("untagged", 1)),
            rule(5, tagged("tagPatternList", &["v*-rc"])),
        ]);
        let parsed = parse_policy(&text).unwrap();
        let priorities: Vec<u32> = parsed.rules.iter().map(|r| r.priority).collect();
        assert_eq!(priorities, [2, 5, 10]);
    }

    #[test]
    fn parse_builds_typed_rules() {
        let text = policy(vec![
            json!({
                "rulePriority": 1,
                "description": "keep ten releases",
                "selection": {
                    "tagStatus": "tagged", "tagPrefixList": ["v", "release"],
                    "countType": "imageCountMoreThan", "countNumber": 10
                },
                "action": { "type": "expire" }
            }),
            rule(2, {
                let mut selection = older_than_days("tagged", 14);
                selection["tagPatternList"] = json!(["*-rc*"]);
                selection
            }),
            rule(3, keep_newest("any", 1)),
        ]);
        let selection = |tag_status, prefixes: &[&str], patterns: &[&str], count| Selection {
            tag_status,
            tag_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            tag_patterns: patterns.iter().map(|p| p.to_string()).collect(),
            count,
        };
        let expected = LifecyclePolicy {
            rules: vec![
                Rule {
                    priority: 1,
                    description: Some("keep ten releases".to_owned()),
                    selection: selection(
                        TagStatus::Tagged,
                        &["v", "release"],
                        &[],
                        CountRule::ImageCountMoreThan(10),
                    ),
                    action: Action::Expire,
                },
                Rule {
                    priority: 2,
                    description: None,
                    selection: selection(
                        TagStatus::Tagged,
                        &[],
                        &["*-rc*"],
                        CountRule::SinceImagePushedDays(14),
                    ),
                    action: Action::Expire,
                },
                Rule {
                    priority: 3,
                    description: None,
                    selection: selection(
                        TagStatus::Any,
                        &[],
                        &[],
                        CountRule::ImageCountMoreThan(1),
                    ),
                    action: Action::Expire,
                },
            ],
        };
        assert_eq!(parse_policy(&text), Ok(expected));
    }
}
