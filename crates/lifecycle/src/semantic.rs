//! The policy rules that a JSON schema cannot express, from the ECR user guide.
//!
//! ECR's own texts for these failures are not all known, so each message names the rule by its
//! `rulePriority` and the field at fault. Rules are checked in ascending priority, and the
//! first failure is reported.

use std::collections::BTreeMap;

use crate::error::PolicyError;
use crate::policy::{Rule, Selection, TagStatus, MAX_WILDCARDS_PER_PATTERN};
use crate::schema::DraftRule;

/// Checks the rules against each other and returns them in ascending priority.
pub(crate) fn check_rules(mut drafts: Vec<DraftRule>) -> Result<Vec<Rule>, PolicyError> {
    drafts.sort_by_key(|draft| draft.priority);
    check_unique_priorities(&drafts)?;
    for draft in &drafts {
        check_tag_lists(draft)?;
        check_wildcards(draft)?;
    }
    check_any_is_last(&drafts)?;
    check_single_untagged(&drafts)?;
    check_unique_prefix_sets(&drafts)?;
    Ok(drafts.into_iter().map(into_rule).collect())
}

fn check_unique_priorities(sorted: &[DraftRule]) -> Result<(), PolicyError> {
    match sorted
        .windows(2)
        .find(|pair| pair[0].priority == pair[1].priority)
    {
        Some(pair) => Err(PolicyError::new(format!(
            "rulePriority {} is used by more than one rule, \
             but each rule needs a unique rulePriority",
            pair[0].priority
        ))),
        None => Ok(()),
    }
}

/// Checks that `tagged` rules have exactly one non-empty list and other rules have none.
fn check_tag_lists(draft: &DraftRule) -> Result<(), PolicyError> {
    let selection = &draft.selection;
    let priority = draft.priority;
    if selection.tag_status != TagStatus::Tagged {
        let status = selection.tag_status.as_str();
        for (name, list) in [
            ("tagPrefixList", &selection.tag_prefixes),
            ("tagPatternList", &selection.tag_patterns),
        ] {
            if list.is_some() {
                return Err(PolicyError::new(format!(
                    "rulePriority {priority}: {name} is only allowed with tagStatus 'tagged', \
                     not '{status}'"
                )));
            }
        }
        return Ok(());
    }
    if selection.tag_prefixes.is_some() && selection.tag_patterns.is_some() {
        return Err(PolicyError::new(format!(
            "rulePriority {priority}: tagPrefixList and tagPatternList are both set, \
             but a rule can use only one of them"
        )));
    }
    let has_entries = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
    if !has_entries(&selection.tag_prefixes) && !has_entries(&selection.tag_patterns) {
        return Err(PolicyError::new(format!(
            "rulePriority {priority}: tagStatus 'tagged' requires a non-empty tagPrefixList \
             or tagPatternList"
        )));
    }
    Ok(())
}

fn check_wildcards(draft: &DraftRule) -> Result<(), PolicyError> {
    let patterns = draft.selection.tag_patterns.iter().flatten();
    for pattern in patterns {
        let wildcards = pattern.matches('*').count();
        if wildcards > MAX_WILDCARDS_PER_PATTERN {
            return Err(PolicyError::new(format!(
                "rulePriority {}: tagPatternList entry '{pattern}' has {wildcards} wildcards, \
                 but at most {MAX_WILDCARDS_PER_PATTERN} are allowed",
                draft.priority
            )));
        }
    }
    Ok(())
}

/// Checks that a rule with tagStatus `any` has the highest priority, so it applies last.
fn check_any_is_last(sorted: &[DraftRule]) -> Result<(), PolicyError> {
    let Some(highest) = sorted.last().map(|draft| draft.priority) else {
        return Ok(());
    };
    let early_any = sorted
        .iter()
        .find(|draft| draft.selection.tag_status == TagStatus::Any && draft.priority != highest);
    match early_any {
        Some(draft) => Err(PolicyError::new(format!(
            "rulePriority {}: tagStatus 'any' requires the highest rulePriority in the policy, \
             but rulePriority {highest} is higher",
            draft.priority
        ))),
        None => Ok(()),
    }
}

fn check_single_untagged(sorted: &[DraftRule]) -> Result<(), PolicyError> {
    let mut untagged = sorted
        .iter()
        .filter(|draft| draft.selection.tag_status == TagStatus::Untagged);
    match (untagged.next(), untagged.next()) {
        (Some(first), Some(second)) => Err(PolicyError::new(format!(
            "rulePriority {}: tagStatus 'untagged' is also used by rulePriority {}, \
             but only one rule can select untagged images",
            second.priority, first.priority
        ))),
        _ => Ok(()),
    }
}

/// Checks that no two rules list the same set of tag prefixes, ignoring order and repeats.
fn check_unique_prefix_sets(sorted: &[DraftRule]) -> Result<(), PolicyError> {
    let mut seen: BTreeMap<Vec<&str>, u32> = BTreeMap::new();
    for draft in sorted {
        let Some(prefixes) = &draft.selection.tag_prefixes else {
            continue;
        };
        let mut set: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        set.sort_unstable();
        set.dedup();
        if let Some(earlier) = seen.insert(set, draft.priority) {
            return Err(PolicyError::new(format!(
                "rulePriority {}: tagPrefixList has the same prefixes as rulePriority {earlier}, \
                 but each rule needs a unique set of tag prefixes",
                draft.priority
            )));
        }
    }
    Ok(())
}

fn into_rule(draft: DraftRule) -> Rule {
    let selection = draft.selection;
    Rule {
        priority: draft.priority,
        description: draft.description,
        selection: Selection {
            tag_status: selection.tag_status,
            tag_prefixes: selection.tag_prefixes.unwrap_or_default(),
            tag_patterns: selection.tag_patterns.unwrap_or_default(),
            count: selection.count,
        },
        action: draft.action,
    }
}
