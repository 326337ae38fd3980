//! JSON over `fetch` for the page's own API calls, with the server's error shape read into
//! a message a person can act on.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// 401: the admin must log in.
    Unauthorized(String),
    /// Any other failure, in words.
    Failed(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unauthorized(message) | Self::Failed(message) => formatter.write_str(message),
        }
    }
}

pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, HttpError> {
    answer(gloo_net::http::Request::get(url).send().await).await
}

pub async fn post_json<T: DeserializeOwned>(
    url: &str,
    body: &impl Serialize,
) -> Result<T, HttpError> {
    let request = gloo_net::http::Request::post(url)
        .json(body)
        .map_err(|error| HttpError::Failed(error.to_string()))?;
    answer(request.send().await).await
}

/// The answer's JSON, or the server's error message (401 apart, so pages can send the admin
/// to the login).
async fn answer<T: DeserializeOwned>(
    sent: Result<gloo_net::http::Response, gloo_net::Error>,
) -> Result<T, HttpError> {
    let response = sent
        .map_err(|error| HttpError::Failed(format!("the server could not be reached: {error}")))?;
    let text = response
        .text()
        .await
        .map_err(|error| HttpError::Failed(format!("the answer could not be read: {error}")))?;
    if response.ok() {
        return serde_json::from_str(&text)
            .map_err(|error| HttpError::Failed(format!("unexpected answer: {error}")));
    }
    let message = serde_json::from_str::<protocol::ApiError>(&text)
        .map(|error| error.error)
        .unwrap_or_else(|_| format!("the server answered {}", response.status()));
    if response.status() == 401 {
        Err(HttpError::Unauthorized(message))
    } else {
        Err(HttpError::Failed(message))
    }
}
