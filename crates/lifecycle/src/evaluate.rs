//! Applies a lifecycle policy to the images of one repository.
//!
//! The algorithm follows the evaluation rules of the ECR user guide and reproduces every
//! worked example of its mid-2023 edition (see the tests):
//!
//! 1. Rules apply in ascending priority, and each one considers every image of the repository,
//!    including images that an earlier rule expires.
//! 2. A rule's candidates are the images that meet its tagging requirement.
//!    `imageCountMoreThan N` keeps the newest N candidates and would expire the rest.
//!    `sinceImagePushed N days` would expire the candidates pushed more than N × 24 hours
//!    before `now`, so an image pushed exactly N days ago is kept.
//! 3. The first rule whose tagging requirement an image meets claims it, and that rule alone
//!    decides its fate. A later rule still counts a claimed image among the N it keeps but
//!    never expires it. So each image is expired by one rule or none.
//! 4. An image that a surviving index references is never expired, but still counts as a
//!    candidate (see [`ImageInfo::referenced_by_index`]).
//!
//! Images are ordered by push time. When two images were pushed at the same millisecond, the
//! one with the greater digest counts as the newer, so the result never depends on the order
//! of the input.

use berth_types::{Digest, Timestamp};

use crate::policy::{CountRule, LifecyclePolicy, Rule};

const DAY_MILLIS: i128 = 24 * 60 * 60 * 1000;

/// The facts about one image of the repository that evaluation uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub digest: Digest,
    /// Every tag that points at the image. Empty for an untagged image.
    pub tags: Vec<String>,
    pub pushed_at: Timestamp,
    /// Whether a manifest list or OCI index that stays in the same repository references this
    /// image. Such an image is never expired but still counts among a rule's candidates, as
    /// `BatchDeleteImage` rejects deleting an image that an index references.
    ///
    /// The caller decides which indexes stay. Computing the flag from every index present
    /// before the evaluation is the simple choice, and then an index that expires now still
    /// protects its children until the next evaluation. To release them in the same pass,
    /// evaluate again with the flag computed from the indexes the first evaluation keeps.
    pub referenced_by_index: bool,
}

/// The result of [`evaluate`]: one decision per input image, in input order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub decisions: Vec<Decision>,
}

impl Evaluation {
    /// Lists the expired images with the priority of the rule that expires each.
    pub fn expired(&self) -> impl Iterator<Item = (&Digest, u32)> {
        self.decisions
            .iter()
            .filter_map(|decision| match decision.outcome {
                Outcome::Expire { rule_priority } => Some((&decision.digest, rule_priority)),
                Outcome::Keep(_) => None,
            })
    }
}

/// The fate of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub digest: Digest,
    pub outcome: Outcome,
}

/// Whether an image expires, and which rule decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The rule with this priority expires the image.
    Expire {
        rule_priority: u32,
    },
    Keep(KeepReason),
}

/// The reason an image is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeepReason {
    /// No rule's tagging requirement selects the image.
    NoRuleMatched,
    /// The image is among the newest N of the `imageCountMoreThan` rule that claimed it, and
    /// no later rule would have expired it.
    WithinCount { rule_priority: u32 },
    /// The `sinceImagePushed` rule that claimed the image finds it too recent, and no later
    /// rule would have expired it.
    NotOldEnough { rule_priority: u32 },
    /// The rule `rule_priority` claimed the image and keeps it, which protects it from the
    /// later rule `expiring_rule_priority` that would have expired it. The first such later
    /// rule is named.
    ClaimedByHigherRule {
        rule_priority: u32,
        expiring_rule_priority: u32,
    },
    /// The rule `rule_priority` would expire the image, but a surviving index references it.
    ReferencedByIndex { rule_priority: u32 },
}

/// Decides, for each image of one repository, whether `policy` expires it at time `now`.
///
/// `images` must be the whole repository, because counts and claims depend on every image.
pub fn evaluate(policy: &LifecyclePolicy, images: &[ImageInfo], now: Timestamp) -> Evaluation {
    let newest_first = newest_first_order(images);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; images.len()];
    for rule in &policy.rules {
        apply_rule(rule, images, &newest_first, now, &mut outcomes);
    }
    let decisions = images
        .iter()
        .zip(outcomes)
        .map(|(image, outcome)| Decision {
            digest: image.digest.clone(),
            outcome: outcome.unwrap_or(Outcome::Keep(KeepReason::NoRuleMatched)),
        })
        .collect();
    Evaluation { decisions }
}

/// Returns image indexes from newest to oldest: by push time, then by digest, then by
/// input position for repeated digests.
fn newest_first_order(images: &[ImageInfo]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&images[a], &images[b]);
        b.pushed_at
            .cmp(&a.pushed_at)
            .then_with(|| b.digest.cmp(&a.digest))
    });
    order
}

/// Records the outcome of one rule for every image it selects. `outcomes[i]` is `None` until
/// a rule claims image `i`.
fn apply_rule(
    rule: &Rule,
    images: &[ImageInfo],
    newest_first: &[usize],
    now: Timestamp,
    outcomes: &mut [Option<Outcome>],
) {
    let candidates = newest_first
        .iter()
        .copied()
        .filter(|&i| rule.selection.matches(&images[i].tags));
    for (rank, index) in candidates.enumerate() {
        let image = &images[index];
        let would_expire = rule_would_expire(rule, rank, image.pushed_at, now);
        let outcome = match outcomes[index] {
            None => claim(rule, would_expire, image.referenced_by_index),
            Some(earlier) => protect(earlier, rule, would_expire),
        };
        outcomes[index] = Some(outcome);
    }
}

/// Decides whether a rule would expire its candidate at `rank` (0 is the newest candidate).
fn rule_would_expire(rule: &Rule, rank: usize, pushed_at: Timestamp, now: Timestamp) -> bool {
    match rule.selection.count {
        CountRule::ImageCountMoreThan(keep) => rank >= keep as usize,
        CountRule::SinceImagePushedDays(days) => {
            let age = i128::from(now.as_millis()) - i128::from(pushed_at.as_millis());
            age > i128::from(days) * DAY_MILLIS
        }
    }
}

/// Decides the outcome of an image that `rule` is the first to select.
fn claim(rule: &Rule, would_expire: bool, referenced_by_index: bool) -> Outcome {
    let rule_priority = rule.priority;
    if would_expire && referenced_by_index {
        return Outcome::Keep(KeepReason::ReferencedByIndex { rule_priority });
    }
    if would_expire {
        return Outcome::Expire { rule_priority };
    }
    Outcome::Keep(match rule.selection.count {
        CountRule::ImageCountMoreThan(_) => KeepReason::WithinCount { rule_priority },
        CountRule::SinceImagePushedDays(_) => KeepReason::NotOldEnough { rule_priority },
    })
}

/// Updates the outcome of an image that an earlier rule claimed, once a later `rule` saw it.
/// Only the reason can change: the later rule never expires the image.
fn protect(earlier: Outcome, rule: &Rule, would_expire: bool) -> Outcome {
    match earlier {
        Outcome::Keep(
            KeepReason::WithinCount { rule_priority } | KeepReason::NotOldEnough { rule_priority },
        ) if would_expire => Outcome::Keep(KeepReason::ClaimedByHigherRule {
            rule_priority,
            expiring_rule_priority: rule.priority,
        }),
        _ => earlier,
    }
}

#[cfg(test)]
mod tests {
    use berth_types::{Digest, Timestamp};

    use super::KeepReason::{
        ClaimedByHigherRule, NoRuleMatched, NotOldEnough, ReferencedByIndex, WithinCount,
    };
    use super::{evaluate, ImageInfo, KeepReason, Outcome};
    use crate::parse_policy;

    const MINUTE: i64 = 60 * 1000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const NOW: Timestamp = Timestamp(1_000 * DAY);

    /// An image in a test repository. Its name, a hex digit, repeated 64 times is its digest,
    /// so digest order is name order.
    struct Image {
        name: char,
        tags: &'static [&'static str],
        age: i64,
        in_index: bool,
    }

    const fn image(name: char, tags: &'static [&'static str], age: i64) -> Image {
        Image {
            name,
            tags,
            age,
            in_index: false,
        }
    }

    const fn indexed(name: char, tags: &'static [&'static str], age: i64) -> Image {
        Image {
            name,
            tags,
            age,
            in_index: true,
        }
    }

    /// One evaluation: rules as `(rulePriority, selection JSON without braces)`, the
    /// repository, and the expected outcome of every image.
    struct Case<'a> {
        name: &'a str,
        rules: &'a [(u32, &'a str)],
        images: &'a [Image],
        expected: &'a [(char, Outcome)],
    }

    const fn expire(rule_priority: u32) -> Outcome {
        Outcome::Expire { rule_priority }
    }

    const fn keep(reason: KeepReason) -> Outcome {
        Outcome::Keep(reason)
    }

    fn digest(name: char) -> Digest {
        Digest::parse(&format!("sha256:{}", name.to_string().repeat(64))).expect("hex digit name")
    }

    fn policy_text(rules: &[(u32, &str)]) -> String {
        let rules: Vec<String> = rules
            .iter()
            .map(|(priority, selection)| {
                format!(
                    r#"{{"rulePriority":{priority},"selection":{{{selection}}},"action":{{"type":"expire"}}}}"#
                )
            })
            .collect();
        format!(r#"{{"rules":[{}]}}"#, rules.join(","))
    }

    fn image_infos(images: &[Image]) -> Vec<ImageInfo> {
        images
            .iter()
            .map(|image| ImageInfo {
                digest: digest(image.name),
                tags: image.tags.iter().map(|tag| tag.to_string()).collect(),
                pushed_at: NOW.plus_millis(-image.age),
                referenced_by_index: image.in_index,
            })
            .collect()
    }

    /// Evaluates a case and lists every image whose outcome differs from the expected one.
    fn mismatches(case: &Case) -> Vec<String> {
        let policy = parse_policy(&policy_text(case.rules))
            .unwrap_or_else(|error| panic!("{}: invalid policy: {error}", case.name));
        let images = image_infos(case.images);
        let evaluation = evaluate(&policy, &images, NOW);
        let order: Vec<Digest> = evaluation
            .decisions
            .iter()
            .map(|d| d.digest.clone())
            .collect();
        let input_order: Vec<Digest> = images.iter().map(|i| i.digest.clone()).collect();
        let mut failures = Vec::new();
        if order != input_order {
            failures.push(format!("{}: decisions are not in input order", case.name));
        }
        assert_eq!(
            case.expected.len(),
            case.images.len(),
            "{}: one expectation per image",
            case.name
        );
        for (name, expected) in case.expected {
            let actual = evaluation
                .decisions
                .iter()
                .find(|d| d.digest == digest(*name))
                .map(|d| d.outcome);
            if actual != Some(*expected) {
                failures.push(format!(
                    "{}: image {name}: expected {expected:?}, got {actual:?}",
                    case.name
                ));
            }
        }
        failures
    }

    fn check(case: &Case) {
        let failures = mismatches(case);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    const KEEP_ONE_ANY: &str =
        r#""tagStatus":"any","countType":"imageCountMoreThan","countNumber":1"#;

    const CASES: &[Case<'static>] = &[
        Case {
            name: "tagged by prefix keeps the newest N with that prefix",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1"#,
            )],
            images: &[
                image('a', &["prod-1"], 3 * DAY),
                image('b', &["prod-2", "latest"], 2 * DAY),
                image('c', &["preprod-3"], DAY),
                image('d', &[], DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', keep(WithinCount { rule_priority: 1 })),
                ('c', keep(NoRuleMatched)),
                ('d', keep(NoRuleMatched)),
            ],
        },
        Case {
            name: "multiple prefixes all must match some tag",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
            )],
            images: &[
                image('a', &["alpha-1"], 5 * DAY),
                image('b', &["alpha-1", "beta-1"], 5 * DAY),
                image('c', &["alphabeta"], 5 * DAY),
                image('d', &["beta-2", "alpha-2"], 5 * DAY),
            ],
            expected: &[
                ('a', keep(NoRuleMatched)),
                ('b', expire(1)),
                // "alphabeta" starts with "alpha" but not with "beta".
                ('c', keep(NoRuleMatched)),
                ('d', expire(1)),
            ],
        },
        Case {
            name: "one tag can satisfy several prefixes",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPrefixList":["al","alpha"],"countType":"imageCountMoreThan","countNumber":1"#,
            )],
            images: &[
                image('a', &["alpha-1"], 2 * DAY),
                image('b', &["alpha-2"], DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', keep(WithinCount { rule_priority: 1 })),
            ],
        },
        Case {
            name: "pattern without wildcard matches the whole tag only",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPatternList":["latest"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
            )],
            images: &[
                image('a', &["latest"], 2 * DAY),
                image('b', &["latest-1"], 2 * DAY),
                image('c', &["old-latest"], 2 * DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', keep(NoRuleMatched)),
                ('c', keep(NoRuleMatched)),
            ],
        },
        Case {
            name: "wildcard at the end",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
            )],
            images: &[
                image('a', &["prod"], 2 * DAY),
                image('b', &["prod-7"], 2 * DAY),
                image('c', &["preprod-7"], 2 * DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', expire(1)),
                ('c', keep(NoRuleMatched)),
            ],
        },
        Case {
            name: "wildcard at the start",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPatternList":["*-rc"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
            )],
            images: &[
                image('a', &["1.0-rc"], 2 * DAY),
                image('b', &["1.0-rc1"], 2 * DAY),
            ],
            expected: &[('a', expire(1)), ('b', keep(NoRuleMatched))],
        },
        Case {
            name: "wildcard in the middle",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPatternList":["v*-final"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
            )],
            images: &[
                image('a', &["v1.2-final"], 2 * DAY),
                image('b', &["v-final"], 2 * DAY),
                image('c', &["v1-final-2"], 2 * DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', expire(1)),
                ('c', keep(NoRuleMatched)),
            ],
        },
        Case {
            name: "multiple patterns all must match some tag",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPatternList":["prod*","*-signed"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
            )],
            images: &[
                image('a', &["prod-1"], 2 * DAY),
                image('b', &["prod-1", "build-signed"], 2 * DAY),
                image('c', &["prod-signed"], 2 * DAY),
                image('d', &["build-signed"], 2 * DAY),
            ],
            expected: &[
                ('a', keep(NoRuleMatched)),
                ('b', expire(1)),
                ('c', expire(1)),
                ('d', keep(NoRuleMatched)),
            ],
        },
        Case {
            name: "untagged selects only images without tags",
            rules: &[(
                1,
                r#""tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1"#,
            )],
            images: &[
                image('a', &[], 3 * DAY),
                image('b', &["v1"], 3 * DAY),
                image('c', &[], 2 * DAY),
                image('d', &[], 4 * DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', keep(NoRuleMatched)),
                ('c', keep(WithinCount { rule_priority: 1 })),
                ('d', expire(1)),
            ],
        },
        Case {
            name: "any selects tagged and untagged images",
            rules: &[(
                1,
                r#""tagStatus":"any","countType":"imageCountMoreThan","countNumber":2"#,
            )],
            images: &[
                image('a', &["v1"], 4 * DAY),
                image('b', &[], 3 * DAY),
                image('c', &["v3"], 2 * DAY),
                image('d', &[], DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', expire(1)),
                ('c', keep(WithinCount { rule_priority: 1 })),
                ('d', keep(WithinCount { rule_priority: 1 })),
            ],
        },
        Case {
            name: "pushed exactly N days ago is kept and one millisecond more expires",
            rules: &[(
                1,
                r#""tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":3"#,
            )],
            images: &[
                image('a', &[], 3 * DAY),
                image('b', &[], 3 * DAY + 1),
                image('c', &["v1"], 3 * DAY - 1),
                image('d', &["v2"], 30 * DAY),
            ],
            expected: &[
                ('a', keep(NotOldEnough { rule_priority: 1 })),
                ('b', expire(1)),
                ('c', keep(NotOldEnough { rule_priority: 1 })),
                ('d', expire(1)),
            ],
        },
        Case {
            name: "image pushed after now is not old enough",
            rules: &[(
                1,
                r#""tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
            )],
            images: &[image('a', &[], -HOUR)],
            expected: &[('a', keep(NotOldEnough { rule_priority: 1 }))],
        },
        Case {
            name: "image claimed by a higher rule still counts toward a lower rule's N",
            rules: &[
                (
                    1,
                    r#""tagStatus":"tagged","tagPrefixList":["release"],"countType":"sinceImagePushed","countUnit":"days","countNumber":365"#,
                ),
                (
                    2,
                    r#""tagStatus":"any","countType":"imageCountMoreThan","countNumber":2"#,
                ),
            ],
            images: &[
                image('a', &["release-2"], DAY),
                image('b', &["release-1"], 2 * DAY),
                image('c', &["feature-x"], 3 * DAY),
                image('d', &[], 4 * DAY),
            ],
            expected: &[
                ('a', keep(NotOldEnough { rule_priority: 1 })),
                ('b', keep(NotOldEnough { rule_priority: 1 })),
                // Rule 2 keeps a and b, both claimed by rule 1, so it keeps no image of its own.
                ('c', expire(2)),
                ('d', expire(2)),
            ],
        },
        Case {
            name: "lower rule cannot expire an image a higher rule keeps",
            rules: &[
                (
                    1,
                    r#""tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":5"#,
                ),
                (2, KEEP_ONE_ANY),
            ],
            images: &[
                image('a', &["prod-1"], 4 * DAY),
                image('b', &["prod-2"], 3 * DAY),
                image('c', &["dev-1"], 2 * DAY),
                image('d', &["dev-2"], DAY),
            ],
            expected: &[
                (
                    'a',
                    keep(ClaimedByHigherRule {
                        rule_priority: 1,
                        expiring_rule_priority: 2,
                    }),
                ),
                (
                    'b',
                    keep(ClaimedByHigherRule {
                        rule_priority: 1,
                        expiring_rule_priority: 2,
                    }),
                ),
                ('c', expire(2)),
                ('d', keep(WithinCount { rule_priority: 2 })),
            ],
        },
        Case {
            name: "claim names the first lower rule that would expire",
            rules: &[
                (
                    1,
                    r#""tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":3"#,
                ),
                (
                    2,
                    r#""tagStatus":"tagged","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1"#,
                ),
                (3, KEEP_ONE_ANY),
            ],
            images: &[image('a', &["v1"], 2 * DAY), image('b', &["v2"], DAY)],
            expected: &[
                (
                    'a',
                    keep(ClaimedByHigherRule {
                        rule_priority: 1,
                        expiring_rule_priority: 2,
                    }),
                ),
                ('b', keep(WithinCount { rule_priority: 1 })),
            ],
        },
        Case {
            name: "equal push times rank the greater digest as newer",
            rules: &[(1, KEEP_ONE_ANY)],
            images: &[
                image('b', &[], DAY),
                image('c', &[], DAY),
                image('a', &[], DAY),
            ],
            expected: &[
                ('b', expire(1)),
                ('c', keep(WithinCount { rule_priority: 1 })),
                ('a', expire(1)),
            ],
        },
        Case {
            name: "image referenced by an index is kept but still counts toward N",
            rules: &[(
                1,
                r#""tagStatus":"any","countType":"imageCountMoreThan","countNumber":2"#,
            )],
            images: &[
                indexed('a', &[], 5 * DAY),
                image('b', &["v1"], 4 * DAY),
                indexed('c', &[], 2 * DAY),
                image('d', &["v2"], DAY),
            ],
            expected: &[
                ('a', keep(ReferencedByIndex { rule_priority: 1 })),
                ('b', expire(1)),
                // c fills one of the two places, so b is third newest and expires.
                ('c', keep(WithinCount { rule_priority: 1 })),
                ('d', keep(WithinCount { rule_priority: 1 })),
            ],
        },
        Case {
            name: "image referenced by an index survives an age rule",
            rules: &[(
                1,
                r#""tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
            )],
            images: &[indexed('a', &[], 9 * DAY), image('b', &[], 9 * DAY)],
            expected: &[
                ('a', keep(ReferencedByIndex { rule_priority: 1 })),
                ('b', expire(1)),
            ],
        },
        Case {
            name: "referenced image claimed by a higher rule stays with that rule",
            rules: &[
                (
                    1,
                    r#""tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1"#,
                ),
                (2, KEEP_ONE_ANY),
            ],
            images: &[
                indexed('a', &[], 3 * DAY),
                image('b', &[], 2 * DAY),
                image('c', &["v1"], DAY),
            ],
            expected: &[
                ('a', keep(ReferencedByIndex { rule_priority: 1 })),
                (
                    'b',
                    keep(ClaimedByHigherRule {
                        rule_priority: 1,
                        expiring_rule_priority: 2,
                    }),
                ),
                ('c', keep(WithinCount { rule_priority: 2 })),
            ],
        },
    ];

    #[test]
    fn evaluation_table() {
        let failures: Vec<String> = CASES.iter().flat_map(mismatches).collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn expired_lists_digests_with_rule() {
        let policy = parse_policy(&policy_text(&[
            (
                1,
                r#""tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1"#,
            ),
            (2, KEEP_ONE_ANY),
        ]))
        .unwrap();
        let images = image_infos(&[
            image('a', &[], 3 * DAY),
            image('b', &["v1"], 2 * DAY),
            image('c', &[], 2 * DAY),
            image('d', &["v2"], DAY),
        ]);
        let evaluation = evaluate(&policy, &images, NOW);
        let expired: Vec<(&Digest, u32)> = evaluation.expired().collect();
        assert_eq!(expired, [(&digest('a'), 1), (&digest('b'), 2)]);
    }

    #[test]
    fn empty_repository_has_no_decisions() {
        let policy = parse_policy(&policy_text(&[(1, KEEP_ONE_ANY)])).unwrap();
        assert_eq!(evaluate(&policy, &[], NOW).decisions, []);
    }

    /// The repository of the ECR user guide's "Filtering on multiple rules" examples A and B.
    const PROD_BETA_IMAGES: &[Image] = &[
        image('a', &["beta-1", "prod-1"], 10 * DAY),
        image('b', &["beta-2", "prod-2"], 9 * DAY),
        image('c', &["beta-3"], 8 * DAY),
    ];

    const KEEP_ONE_PROD: &str = r#""tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1"#;
    const KEEP_ONE_BETA: &str = r#""tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1"#;

    #[test]
    fn guide_multiple_rules_example_a() {
        check(&Case {
            name: "prod then beta: only A expires",
            rules: &[(1, KEEP_ONE_PROD), (2, KEEP_ONE_BETA)],
            images: PROD_BETA_IMAGES,
            expected: &[
                ('a', expire(1)),
                // Rule 2 would expire B, but rule 1 saw B first and keeps it.
                (
                    'b',
                    keep(ClaimedByHigherRule {
                        rule_priority: 1,
                        expiring_rule_priority: 2,
                    }),
                ),
                ('c', keep(WithinCount { rule_priority: 2 })),
            ],
        });
    }

    #[test]
    fn guide_multiple_rules_example_b() {
        check(&Case {
            name: "beta then prod: A and B expire",
            rules: &[(1, KEEP_ONE_BETA), (2, KEEP_ONE_PROD)],
            images: PROD_BETA_IMAGES,
            expected: &[
                ('a', expire(1)),
                ('b', expire(1)),
                ('c', keep(WithinCount { rule_priority: 1 })),
            ],
        });
    }

    #[test]
    fn guide_multiple_tags_example_a() {
        check(&Case {
            name: "alpha and beta older than 5 days: C expires",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days""#,
            )],
            images: &[
                image('a', &["alpha-1"], 12 * DAY),
                image('b', &["beta-1"], 11 * DAY),
                image('c', &["alpha-2", "beta-2"], 10 * DAY),
                image('d', &["alpha-3"], 4 * DAY),
                image('e', &["beta-3"], 3 * DAY),
                image('f', &["alpha-4", "beta-4"], 2 * DAY),
            ],
            expected: &[
                ('a', keep(NoRuleMatched)),
                ('b', keep(NoRuleMatched)),
                ('c', expire(1)),
                ('d', keep(NoRuleMatched)),
                ('e', keep(NoRuleMatched)),
                ('f', keep(NotOldEnough { rule_priority: 1 })),
            ],
        });
    }

    #[test]
    fn guide_multiple_tags_example_b() {
        check(&Case {
            name: "alpha and beta keep 1: A and B expire",
            rules: &[(
                1,
                r#""tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"imageCountMoreThan","countNumber":1"#,
            )],
            images: &[
                image('a', &["alpha-1", "beta-1", "gamma-1"], 10 * DAY),
                image('b', &["alpha-2", "beta-2"], 9 * DAY),
                image('c', &["alpha-3", "beta-3", "gamma-2"], 8 * DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', expire(1)),
                ('c', keep(WithinCount { rule_priority: 1 })),
            ],
        });
    }

    #[test]
    fn guide_all_images_example_a() {
        check(&Case {
            name: "any keep 1: A, B and C expire",
            rules: &[(1, KEEP_ONE_ANY)],
            images: &[
                image('a', &["alpha-1"], 4 * DAY),
                image('b', &["beta-1"], 3 * DAY),
                image('c', &[], 2 * DAY),
                image('d', &["alpha-2"], DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', expire(1)),
                ('c', expire(1)),
                ('d', keep(WithinCount { rule_priority: 1 })),
            ],
        });
    }

    #[test]
    fn guide_all_images_example_b_combines_rule_types() {
        check(&Case {
            name: "alpha keep 1, untagged older than 1 day, any keep 1: A, B and D expire",
            rules: &[
                (
                    1,
                    r#""tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"imageCountMoreThan","countNumber":1"#,
                ),
                (
                    2,
                    r#""tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1"#,
                ),
                (3, KEEP_ONE_ANY),
            ],
            // The user guide gives D and E the same age, 1 day. The digest tie-break ranks E
            // as the newer, which gives the guide's result, and E at exactly 1 day is not
            // older than rule 2's limit.
            images: &[
                image('a', &["alpha-1", "beta-1"], 4 * DAY),
                image('b', &[], 3 * DAY),
                image('c', &["alpha-2"], 2 * DAY),
                image('d', &["git hash"], DAY),
                image('e', &[], DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', expire(2)),
                // Rule 3 keeps only E, the newest image, and would expire C, but rule 1 saw C
                // first and keeps it.
                (
                    'c',
                    keep(ClaimedByHigherRule {
                        rule_priority: 1,
                        expiring_rule_priority: 3,
                    }),
                ),
                ('d', expire(3)),
                ('e', keep(NotOldEnough { rule_priority: 2 })),
            ],
        });
    }

    #[test]
    fn guide_single_rule_examples() {
        check(&Case {
            name: "untagged older than 14 days expire",
            rules: &[(
                1,
                r#""tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14"#,
            )],
            images: &[
                image('a', &[], 15 * DAY),
                image('b', &[], 13 * DAY),
                image('c', &["v1"], 20 * DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', keep(NotOldEnough { rule_priority: 1 })),
                ('c', keep(NoRuleMatched)),
            ],
        });
        check(&Case {
            name: "keep only one untagged image",
            rules: &[(
                1,
                r#""tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1"#,
            )],
            images: &[
                image('a', &[], 2 * DAY),
                image('b', &[], DAY),
                image('c', &["v1"], 3 * DAY),
            ],
            expected: &[
                ('a', expire(1)),
                ('b', keep(WithinCount { rule_priority: 1 })),
                ('c', keep(NoRuleMatched)),
            ],
        });
    }
}
