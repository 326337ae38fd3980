//! JSON over `fetch` for the page's own API calls, with the server's error shape read into
//! a message a person can act on.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

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
    request("GET", url, None).await
}

pub async fn post_json<T: DeserializeOwned>(
    url: &str,
    body: &impl Serialize,
) -> Result<T, HttpError> {
    let body = serde_json::to_string(body).map_err(|error| HttpError::Failed(error.to_string()))?;
    request("POST", url, Some(body)).await
}

async fn request<T: DeserializeOwned>(
    method: &str,
    url: &str,
    body: Option<String>,
) -> Result<T, HttpError> {
    let failed = |error: JsValue| {
        HttpError::Failed(
            error
                .dyn_ref::<js_sys::Error>()
                .map(|error| {
                    format!(
                        "the server could not be reached: {}",
                        String::from(error.message())
                    )
                })
                .unwrap_or_else(|| "the server could not be reached".to_owned()),
        )
    };
    let window = web_sys::window().ok_or_else(|| HttpError::Failed("no window".into()))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        let headers = web_sys::Headers::new().map_err(failed)?;
        headers
            .set("Content-Type", "application/json")
            .map_err(failed)?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&body));
    }
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    let text = JsFuture::from(response.text().map_err(failed)?)
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
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
