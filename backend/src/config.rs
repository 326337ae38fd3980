//! The server's configuration: every setting is a `--flag` with a `WORKBENCH_*` environment
//! variable and a default that works on a laptop.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "backend", about = "Serves the Pyodide Workbench", version)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "WORKBENCH_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The Trunk build of the frontend (`cargo xtask build` makes it).
    #[arg(long, env = "WORKBENCH_DIST_DIR", default_value = "dist")]
    pub dist_dir: PathBuf,
    /// Static assets made by set-up: `pyodide/` and `wheelhouse/` are served from here.
    #[arg(long, env = "WORKBENCH_PUBLIC_DIR", default_value = "public")]
    pub public_dir: PathBuf,
}
