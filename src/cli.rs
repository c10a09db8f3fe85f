//! Command-line types (clap derive) and nothing else: each command is handed to one function in
//! `crate::cmd`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `plan --detailed-exitcode`: no changes)
  1  error: invalid manifests, unreachable Dashboard, stale plan, lock held past --lock-timeout
  2  `plan --detailed-exitcode` found changes

Every flag can also be set from the environment as PORTALCTL_<FLAG>, e.g. PORTALCTL_DATABASE.";

const PLAN_HELP: &str = "\
Examples:
  portalctl plan -f examples/b2b
  portalctl plan -f manifests/ --out plan.json --detailed-exitcode
  portalctl plan -f manifests/ --output markdown > comment.md

Exit codes: 0 no errors (with --detailed-exitcode: no changes), 1 error, 2 changes (only with
--detailed-exitcode). JSON output is printed whatever the exit code.";

const APPLY_HELP: &str = "\
Examples:
  portalctl apply -f examples/b2b --yes
  portalctl apply plan.json
  portalctl apply -f manifests/ --lock-timeout 2m --revoke-retired

Order: Dashboard creates/updates/tags, one database transaction, then retirements and deletions.
Only policies tagged portalctl:<instance> (or adopted with policy.id) are ever changed.
Exit codes: 0 applied (or nothing to do), 1 error (invalid manifests, unreachable Dashboard, stale
plan, lock held past --lock-timeout, or some changes failed: the report lists done/failed/blocked).";

/// A developer portal for the Tyk API gateway, run as code.
///
/// Describe your portal in YAML manifests (Tyk Dashboards, API products, plans, catalogs,
/// organisations, teams), then `plan` and `apply` them like Terraform, or `serve` the portal.
#[derive(Debug, Parser)]
#[command(name = "portalctl", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Runtime configuration file [default: portal-config/portal.yaml when present]
    #[arg(long, global = true, env = "PORTALCTL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL, overriding the configuration (sqlite://portal.db, postgres://…)
    #[arg(long, global = true, env = "PORTALCTL_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// Log format on standard error
    #[arg(long, global = true, env = "PORTALCTL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors in the log
    #[arg(short, long, global = true, env = "PORTALCTL_QUIET")]
    pub quiet: bool,
}

impl GlobalArgs {
    /// -q → -1, default 0, -v → 1, -vv → 2.
    pub fn verbosity(&self) -> i8 {
        if self.quiet {
            -1
        } else {
            self.verbose.min(2) as i8
        }
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output formats of `validate` and `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For programs.
    Json,
}

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanOutput {
    /// For people.
    #[default]
    Text,
    /// For programs (the same document `--out` writes).
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests without touching any network or database
    #[command(
        after_help = "Examples:\n  portalctl validate -f examples/b2b\n  portalctl validate -f manifests/ --output json"
    )]
    Validate(ValidateArgs),
    /// Show what `apply` would change in the database and the Dashboards
    #[command(
        after_help = PLAN_HELP
    )]
    Plan(PlanArgs),
    /// Make the database and the Dashboards match the manifests
    #[command(
        after_help = APPLY_HELP
    )]
    Apply(ApplyArgs),
    /// Write manifests for tagged Dashboard policies that no manifest manages yet
    #[command(
        after_help = "Example:\n  portalctl import -f manifests/ --provider tyk --out manifests/imported"
    )]
    Import(ImportArgs),
    /// Write the JSON Schemas of all manifest kinds
    #[command(after_help = "Example:\n  portalctl schema --out schemas/")]
    Schema(SchemaArgs),
    /// Run the portal website (and, with --watch, keep reconciling)
    #[command(after_help = "Example:\n  portalctl serve --watch manifests/ --resync 5m")]
    Serve(ServeArgs),
    /// Run the Tyk Dashboard simulator on its own
    #[command(
        after_help = "Example:\n  PORTALCTL_SIM_SECRET=s3cret portalctl sim --listen 127.0.0.1:3000 --seed seed.json"
    )]
    Sim(SimArgs),
    /// Start a local Dashboard simulator, apply the examples and serve the portal
    #[command(after_help = "Example:\n  portalctl demo            # then open the URL it prints")]
    Demo(DemoArgs),
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest file or directory (walked recursively for *.yaml and *.yml)
    #[arg(
        short = 'f',
        long = "manifests",
        env = "PORTALCTL_MANIFESTS",
        default_value = ".",
        value_name = "PATH"
    )]
    pub manifests: PathBuf,
    /// Output format
    #[arg(long, env = "PORTALCTL_OUTPUT", value_enum, default_value_t)]
    pub output: Output,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Manifest file or directory
    #[arg(
        short = 'f',
        long = "manifests",
        env = "PORTALCTL_MANIFESTS",
        default_value = ".",
        value_name = "PATH"
    )]
    pub manifests: PathBuf,
    /// Also write the plan as JSON to this file, for `portalctl apply PLANFILE`
    #[arg(long, env = "PORTALCTL_OUT", value_name = "PLANFILE")]
    pub out: Option<PathBuf>,
    /// Output format
    #[arg(long, env = "PORTALCTL_OUTPUT", value_enum, default_value_t)]
    pub output: PlanOutput,
    /// Exit 2 when there are changes, 0 when there are none
    #[arg(long, env = "PORTALCTL_DETAILED_EXITCODE")]
    pub detailed_exitcode: bool,
    /// Only plan these objects (KIND/NAME, e.g. plan/free); repeatable
    #[arg(long, value_name = "KIND/NAME")]
    pub target: Vec<String>,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest file or directory
    #[arg(
        short = 'f',
        long = "manifests",
        env = "PORTALCTL_MANIFESTS",
        value_name = "PATH",
        conflicts_with = "planfile"
    )]
    pub manifests: Option<PathBuf>,
    /// A plan saved by `plan --out`; applied exactly, refused when stale
    #[arg(value_name = "PLANFILE")]
    pub planfile: Option<PathBuf>,
    /// Output format
    #[arg(long, env = "PORTALCTL_OUTPUT", value_enum, default_value_t)]
    pub output: Output,
    /// Revoke the keys of retired products and plans, then delete them
    #[arg(long, env = "PORTALCTL_REVOKE_RETIRED")]
    pub revoke_retired: bool,
    /// Wait this long for another apply's lock (e.g. 30s, 2m); 0 fails at once
    #[arg(
        long,
        env = "PORTALCTL_LOCK_TIMEOUT",
        default_value = "0s",
        value_name = "DUR"
    )]
    pub lock_timeout: String,
    /// Do not ask for confirmation before deleting or retiring
    #[arg(short, long, env = "PORTALCTL_YES")]
    pub yes: bool,
    /// Allow an empty manifest set (which deletes everything portalctl manages)
    #[arg(long, env = "PORTALCTL_ALLOW_EMPTY")]
    pub allow_empty: bool,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Manifest file or directory holding the provider (and what is already managed)
    #[arg(
        short = 'f',
        long = "manifests",
        env = "PORTALCTL_MANIFESTS",
        default_value = ".",
        value_name = "PATH"
    )]
    pub manifests: PathBuf,
    /// The Provider whose tagged policies to import
    #[arg(long, env = "PORTALCTL_PROVIDER", value_name = "NAME")]
    pub provider: String,
    /// Where to write the manifests
    #[arg(
        long,
        env = "PORTALCTL_OUT",
        default_value = "imported",
        value_name = "DIR"
    )]
    pub out: PathBuf,
}

/// `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Directory to write the schemas into (created when missing)
    #[arg(long, env = "PORTALCTL_OUT", value_name = "DIR")]
    pub out: PathBuf,
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3001]
    #[arg(long, env = "PORTALCTL_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Keep reconciling the manifests under this path as they change
    #[arg(long, env = "PORTALCTL_WATCH", value_name = "PATH")]
    pub watch: Option<PathBuf>,
    /// Re-read the Dashboards and repair drift this often
    #[arg(
        long,
        env = "PORTALCTL_RESYNC",
        default_value = "5m",
        value_name = "DUR"
    )]
    pub resync: String,
}

/// `sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on
    #[arg(
        long,
        env = "PORTALCTL_LISTEN",
        default_value = "127.0.0.1:3000",
        value_name = "ADDR"
    )]
    pub listen: String,
    /// JSON file of APIs and policies to start with
    #[arg(long, env = "PORTALCTL_SEED", value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// The Dashboard secret clients must send
    #[arg(
        long,
        env = "PORTALCTL_SIM_SECRET",
        value_name = "S",
        hide_env_values = true
    )]
    pub secret: Option<String>,
    /// Load state from and save it to this JSON file
    #[arg(long, env = "PORTALCTL_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address of the portal
    #[arg(
        long,
        env = "PORTALCTL_LISTEN",
        default_value = "127.0.0.1:3001",
        value_name = "ADDR"
    )]
    pub listen: String,
}
