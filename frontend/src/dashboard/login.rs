//! The login page: the admin token, traded once for the server's session cookie, then on to
//! the page that asked for the login.

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::admin::{LoginRequest, SessionAnswer};

use super::go_to;
use crate::http::{self, HttpError};

#[component]
pub fn Login() -> impl IntoView {
    let token = RwSignal::new(String::new());
    let message = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            let answer: Result<SessionAnswer, HttpError> = http::post_json(
                "/api/admin/login",
                &LoginRequest {
                    token: token.get_untracked(),
                },
            )
            .await;
            busy.set(false);
            match answer {
                Ok(_) => go_to(&next_page()),
                Err(error) => message.set(Some(error.to_string())),
            }
        });
    };
    view! {
        <main class="login">
            <form on:submit=submit aria-labelledby="login-title">
                <h1 id="login-title">"Pyodide Workbench · Admin"</h1>
                <label for="admin-token">"Admin token"</label>
                <input
                    id="admin-token"
                    type="password"
                    data-testid="admin-token"
                    autocomplete="current-password"
                    required
                    prop:value=move || token.get()
                    on:input=move |event| token.set(event_target_value(&event))
                />
                <button type="submit" data-testid="login" disabled=move || busy.get()>
                    "Log in"
                </button>
                <p class="error" role="alert" data-testid="login-error">
                    {move || message.get().unwrap_or_default()}
                </p>
                <p class="hint">
                    "The token is in the server's data directory (admin-token) unless it was set with WORKBENCH_ADMIN_TOKEN."
                </p>
            </form>
        </main>
    }
}

/// Where the login goes afterwards: `?next=` if it is a local page, else the dashboard.
fn next_page() -> String {
    let search = web_sys::window()
        .and_then(|window| window.location().search().ok())
        .unwrap_or_default();
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|params| params.get("next"))
        .filter(|next| next.starts_with('/') && !next.starts_with("//"))
        .unwrap_or_else(|| "/dashboard".to_owned())
}
