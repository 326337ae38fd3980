//! HTTP plumbing, under every feature: the accept loop and its connection limits
//! (`connections`), who a request comes from and which site it was made to (`client`), the
//! API's one error type (`error`) and its JSON refusals before and after routing
//! (`refusals`), the JSON body extractor with its own messages (`extract`), and the static
//! files with their headers (`static_files`).

pub mod client;
pub mod connections;
pub mod error;
pub mod extract;
pub mod refusals;
pub mod static_files;
