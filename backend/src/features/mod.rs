//! What the server does, one module a feature: telemetry ingest and import (`telemetry`),
//! the statistics — public, dashboard, export, look-up (`stats`), live dashboards (`live`),
//! the public snapshot behind `/api/stats` (`snapshot`) and `/metrics` (`metrics`) — admin
//! authentication (`admin`), and micropip's package index (`package_index`, over
//! `simple_api`'s PEP 691 types and an `upstream` index).

pub mod admin;
pub mod live;
pub mod metrics;
pub mod package_index;
pub mod simple_api;
pub mod snapshot;
pub mod stats;
pub mod telemetry;
pub mod upstream;
