//! The operation an `X-Amz-Target` header names.

/// The prefix of every ECR target, from the model's `targetPrefix`.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// Every operation of the ECR API, version 2015-09-21.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Operation { $($name),* }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];

            pub fn name(self) -> &'static str {
                match self { $(Operation::$name => stringify!($name)),* }
            }
        }
    };
}

operations!(
    BatchCheckLayerAvailability,
    BatchDeleteImage,
    BatchGetImage,
    BatchGetRepositoryScanningConfiguration,
    CompleteLayerUpload,
    CreatePullThroughCacheRule,
    CreateRepository,
    DeleteLifecyclePolicy,
    DeletePullThroughCacheRule,
    DeleteRegistryPolicy,
    DeleteRepository,
    DeleteRepositoryPolicy,
    DescribeImageReplicationStatus,
    DescribeImageScanFindings,
    DescribeImages,
    DescribePullThroughCacheRules,
    DescribeRegistry,
    DescribeRepositories,
    GetAuthorizationToken,
    GetDownloadUrlForLayer,
    GetLifecyclePolicy,
    GetLifecyclePolicyPreview,
    GetRegistryPolicy,
    GetRegistryScanningConfiguration,
    GetRepositoryPolicy,
    InitiateLayerUpload,
    ListImages,
    ListTagsForResource,
    PutImage,
    PutImageScanningConfiguration,
    PutImageTagMutability,
    PutLifecyclePolicy,
    PutRegistryPolicy,
    PutRegistryScanningConfiguration,
    PutReplicationConfiguration,
    SetRepositoryPolicy,
    StartImageScan,
    StartLifecyclePolicyPreview,
    TagResource,
    UntagResource,
    UploadLayerPart,
);

impl Operation {
    /// Parses an `X-Amz-Target` value.
    pub fn from_target(target: &str) -> Option<Self> {
        let name = target.strip_prefix(TARGET_PREFIX)?;
        Operation::ALL
            .iter()
            .copied()
            .find(|operation| operation.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_41_operations_parse() {
        assert_eq!(Operation::ALL.len(), 41);
        for operation in Operation::ALL {
            let target = format!("{TARGET_PREFIX}{}", operation.name());
            assert_eq!(Operation::from_target(&target), Some(*operation));
        }
        assert_eq!(
            Operation::from_target("AmazonEC2ContainerRegistry_V20150921.Nope"),
            None
        );
        assert_eq!(Operation::from_target("ListImages"), None);
    }
}
