//! The `berth` command: parses flags, loads the configuration, sets up logging and runs
//! the server.

mod admin;
mod config;
mod connections;
mod jobs;
mod request_body;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use config::{AccessKeyConfig, Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A container registry that speaks the Amazon ECR and OCI Distribution APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry.
    Serve(ServeArgs),
    /// Check the configuration and exit.
    CheckConfig(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file; flags and environment variables override its values.
    #[arg(long, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:5000].
    #[arg(long, env = "BERTH_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for metadata, blobs and generated secrets [default: ./berth-data].
    #[arg(long, env = "BERTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// 12-digit account id used in ARNs [default: 000000000000].
    #[arg(long, env = "BERTH_REGISTRY_ID")]
    registry_id: Option<String>,
    /// Region used in ARNs [default: us-east-1].
    #[arg(long, env = "BERTH_REGION")]
    region: Option<String>,
    /// scheme://host[:port] at which clients reach berth [default: http://<listen>].
    #[arg(long, env = "BERTH_PUBLIC_URL")]
    public_url: Option<String>,
    /// Accept any well-formed SigV4 signature; for local testing only.
    #[arg(long, env = "BERTH_ACCEPT_ANY_SIGNATURE")]
    accept_any_signature: bool,
    /// Create repositories on first OCI push, which ECR does not do.
    #[arg(long, env = "BERTH_CREATE_ON_PUSH")]
    create_on_push: bool,
    /// Access key id to accept, with BERTH_SECRET_ACCESS_KEY.
    #[arg(long, env = "BERTH_ACCESS_KEY_ID", requires = "secret_access_key")]
    access_key_id: Option<String>,
    /// Secret of the access key given with --access-key-id.
    #[arg(long, env = "BERTH_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: Option<String>,
    /// Log format.
    #[arg(long, env = "BERTH_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if let Some(id) = self.registry_id {
            config.registry_id = id;
        }
        if let Some(region) = self.region {
            config.region = region;
        }
        if self.public_url.is_some() {
            config.public_url = self.public_url;
        }
        config.accept_any_signature |= self.accept_any_signature;
        config.create_on_push |= self.create_on_push;
        if let (Some(id), Some(secret)) = (self.access_key_id, self.secret_access_key) {
            config.access_keys.push(AccessKeyConfig {
                id,
                secret,
                principal_arn: None,
            });
        }
        if let Some(format) = self.log_format {
            config.log_format = format;
        }
        config.validate()?;
        Ok(config)
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colors only for a terminal; a file or pipe gets plain text.
    let colors = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colors)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (args, check_only) = match cli.command {
        Command::Serve(args) => (args, false),
        Command::CheckConfig(args) => (args, true),
    };
    let config = match args.into_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("berth: {error:#}");
            return ExitCode::from(2);
        }
    };
    if check_only {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    init_tracing(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "berth stopped with an error");
            ExitCode::FAILURE
        }
    }
}
