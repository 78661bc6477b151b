//! Configuration: defaults, then the TOML file, then environment variables and flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// An access key from the configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyConfig {
    /// The access key id clients sign with.
    pub id: String,
    /// The secret access key.
    pub secret: String,
    /// The principal the key stands for; default `arn:aws:iam::<registry_id>:user/<id>`.
    pub principal_arn: Option<String>,
}

impl std::fmt::Debug for AccessKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyConfig")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The configuration of `berth serve`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on. Default `127.0.0.1:5000`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory for the metadata database, blobs and generated secrets. Default
    /// `./berth-data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The 12-digit account id in ARNs and responses. Default `000000000000`.
    #[serde(default = "default_registry_id")]
    pub registry_id: String,
    /// The region in ARNs. Requests signed for any region are accepted. Default
    /// `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// `scheme://host[:port]` at which clients reach berth; it prefixes repository URIs
    /// and download URLs. Default `http://<listen>`.
    pub public_url: Option<String>,
    /// Access keys accepted on the ECR API. When none are configured, berth creates an
    /// admin key in the data directory on first start.
    #[serde(default)]
    pub access_keys: Vec<AccessKeyConfig>,
    /// Accept any well-formed SigV4 signature, for local testing only. Default false.
    #[serde(default)]
    pub accept_any_signature: bool,
    /// Create a repository when an OCI client pushes to one that does not exist, which
    /// ECR does not do. Default false.
    #[serde(default)]
    pub create_on_push: bool,
    /// Seconds after its last write at which an unfinished upload is deleted. Default
    /// 86400 (one day).
    #[serde(default = "default_upload_expiry_secs")]
    pub upload_expiry_secs: u64,
    /// Seconds between runs of every repository's lifecycle policy. Default 3600.
    #[serde(default = "default_hourly")]
    pub lifecycle_interval_secs: u64,
    /// Seconds between garbage collections. Default 3600.
    #[serde(default = "default_hourly")]
    pub gc_interval_secs: u64,
    /// Seconds that a blob must stay unreferenced and unlinked before garbage collection
    /// deletes it. Set it longer than clients take between a layer upload and the
    /// manifest push that references the layer. Default 3600.
    #[serde(default = "default_hourly")]
    pub gc_grace_secs: u64,
    /// Seconds that open requests may take to finish after a shutdown signal; then they
    /// are closed. Default 30.
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// Seconds a request body may go without a byte arriving before the request fails and
    /// its connection closes. Default 60.
    #[serde(default = "default_body_idle_timeout_secs")]
    pub body_idle_timeout_secs: u64,
    /// Log format. Default `text`.
    #[serde(default)]
    pub log_format: LogFormat,
}

/// The largest value a setting in seconds may take, so that time arithmetic on it
/// cannot overflow: ten years.
const MAX_SECONDS_SETTING: u64 = 10 * 365 * 24 * 60 * 60;

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5000))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("berth-data")
}

fn default_registry_id() -> String {
    "000000000000".to_owned()
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_shutdown_timeout_secs() -> u64 {
    30
}

fn default_body_idle_timeout_secs() -> u64 {
    60
}

fn default_hourly() -> u64 {
    60 * 60
}

fn default_upload_expiry_secs() -> u64 {
    24 * 60 * 60
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("an empty configuration takes every default")
    }
}

impl Config {
    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }

    /// Checks values that the types alone do not.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.registry_id.len() != 12 || !self.registry_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!(
                "invalid registry_id '{}': it must be 12 digits",
                self.registry_id
            );
        }
        let region_ok = (2..=25).contains(&self.region.len())
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            bail!(
                "invalid region '{}': use 2 to 25 lowercase letters, digits and '-'",
                self.region
            );
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("invalid public_url '{url}': it must start with http:// or https://");
            }
        }
        for key in &self.access_keys {
            if key.id.is_empty() || key.secret.is_empty() {
                bail!("an access key in the configuration has an empty id or secret");
            }
        }
        let intervals = [
            ("upload_expiry_secs", self.upload_expiry_secs),
            ("lifecycle_interval_secs", self.lifecycle_interval_secs),
            ("gc_interval_secs", self.gc_interval_secs),
            ("gc_grace_secs", self.gc_grace_secs),
            ("shutdown_timeout_secs", self.shutdown_timeout_secs),
            ("body_idle_timeout_secs", self.body_idle_timeout_secs),
        ];
        for (name, value) in intervals {
            if value > MAX_SECONDS_SETTING {
                bail!("{name} is {value}; the maximum is {MAX_SECONDS_SETTING} (ten years)");
            }
            let may_be_zero = matches!(name, "gc_grace_secs" | "shutdown_timeout_secs");
            if value == 0 && !may_be_zero {
                bail!("{name} must be at least 1");
            }
        }
        Ok(())
    }

    /// Returns the public URL, which defaults to the bound listen address.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }
}
