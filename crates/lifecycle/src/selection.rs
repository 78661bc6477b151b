//! Image selection by tags: the `tagStatus`, prefix and wildcard-pattern matching of a rule.

use crate::policy::{Selection, TagStatus};

impl Selection {
    /// Reports whether an image with these tags meets this selection's tagging requirement.
    ///
    /// A `Tagged` selection needs at least one tag, and every prefix and every pattern must
    /// match some tag (one tag may match several of them). With both lists empty, which
    /// `parse_policy` never produces, it selects every tagged image.
    pub fn matches(&self, tags: &[String]) -> bool {
        match self.tag_status {
            TagStatus::Any => true,
            TagStatus::Untagged => tags.is_empty(),
            TagStatus::Tagged => {
                !tags.is_empty()
                    && self
                        .tag_prefixes
                        .iter()
                        .all(|prefix| tags.iter().any(|tag| tag.starts_with(prefix.as_str())))
                    && self
                        .tag_patterns
                        .iter()
                        .all(|pattern| tags.iter().any(|tag| pattern_matches(pattern, tag)))
            }
        }
    }
}

/// Matches a whole tag against a pattern in which each `*` stands for any run of characters,
/// including none. Every other character matches itself.
fn pattern_matches(pattern: &str, tag: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = tag.strip_prefix(first) else {
        return false;
    };
    let mut middle: Vec<&str> = pieces.collect();
    let Some(last) = middle.pop() else {
        // No `*` at all, so the pattern is a literal tag.
        return rest.is_empty();
    };
    let Some(before_last) = rest.strip_suffix(last) else {
        return false;
    };
    rest = before_last;
    // Between the fixed start and end, taking the leftmost match of each piece leaves the
    // most room for the pieces after it, so it never misses a match that exists.
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;
    use crate::policy::{CountRule, Selection, TagStatus};

    #[test]
    fn pattern_matching_cases() {
        let cases = [
            ("latest", "latest", true),
            ("latest", "latest-1", false),
            ("latest", "old-latest", false),
            ("prod*", "prod", true),
            ("prod*", "prod-1", true),
            ("prod*", "preprod-1", false),
            ("*-rc", "1.0-rc", true),
            ("*-rc", "-rc", true),
            ("*-rc", "1.0-rc1", false),
            ("v*-final", "v1-final", true),
            ("v*-final", "v-final", true),
            ("v*-final", "v1-final-2", false),
            ("v*-final", "v-fina", false),
            ("*", "anything", true),
            ("*test*1*2*3", "mytest-1-2-3", true),
            ("*test*1*2*3", "test123", true),
            ("*test*1*2*3", "test-3-2-1", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("ab*ba", "aba", false),
            ("*a*b*", "xbxax", false),
            ("*a*b*", "xaxbx", true),
        ];
        for (pattern, tag, expected) in cases {
            assert_eq!(
                pattern_matches(pattern, tag),
                expected,
                "pattern {pattern:?} on tag {tag:?}"
            );
        }
    }

    fn selection(status: TagStatus, prefixes: &[&str], patterns: &[&str]) -> Selection {
        Selection {
            tag_status: status,
            tag_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            tag_patterns: patterns.iter().map(|p| p.to_string()).collect(),
            count: CountRule::ImageCountMoreThan(1),
        }
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn selection_matching_cases() {
        let cases = [
            (selection(TagStatus::Any, &[], &[]), &[][..], true),
            (selection(TagStatus::Any, &[], &[]), &["x"][..], true),
            (selection(TagStatus::Untagged, &[], &[]), &[][..], true),
            (selection(TagStatus::Untagged, &[], &[]), &["x"][..], false),
            (selection(TagStatus::Tagged, &["prod"], &[]), &[][..], false),
            (
                selection(TagStatus::Tagged, &["prod"], &[]),
                &["dev", "prod-2"][..],
                true,
            ),
            (
                selection(TagStatus::Tagged, &["a", "b"], &[]),
                &["a-1"][..],
                false,
            ),
            (
                selection(TagStatus::Tagged, &["a", "b"], &[]),
                &["a-1", "b-1"][..],
                true,
            ),
            (
                selection(TagStatus::Tagged, &["al", "alpha"], &[]),
                &["alpha-1"][..],
                true,
            ),
            (
                selection(TagStatus::Tagged, &[], &["prod*", "*-signed"]),
                &["prod-1"][..],
                false,
            ),
            (
                selection(TagStatus::Tagged, &[], &["prod*", "*-signed"]),
                &["prod-1", "b-signed"][..],
                true,
            ),
            (
                selection(TagStatus::Tagged, &[], &["prod*", "*-signed"]),
                &["prod-signed"][..],
                true,
            ),
            (selection(TagStatus::Tagged, &[], &[]), &["x"][..], true),
        ];
        for (selection, image_tags, expected) in cases {
            assert_eq!(
                selection.matches(&tags(image_tags)),
                expected,
                "{selection:?} on tags {image_tags:?}"
            );
        }
    }
}
