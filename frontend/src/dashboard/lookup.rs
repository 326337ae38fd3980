//! "How often did this code run?": the admin pastes code or its SHA-256; the server hashes
//! code itself, so the browser's hash and the pasted text find the same runs.

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::stats::{LookupAnswer, LookupRequest};

use super::charts::local_time;
use crate::format::thousands;
use crate::http;

/// "How often did this code run?": paste code or its SHA-256.
#[component]
pub(super) fn CodeLookup() -> impl IntoView {
    let input = RwSignal::new(String::new());
    let answer = RwSignal::new(None::<Result<LookupAnswer, String>>);
    let look_up = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        let body = LookupRequest::from_input(&input.get_untracked());
        spawn_local(async move {
            let found = http::post_json::<LookupAnswer>("/api/dashboard/lookup", &body).await;
            answer.set(Some(found.map_err(|error| error.to_string())));
        });
    };
    view! {
        <section class="lookup">
            <h2>"Look up code"</h2>
            <form on:submit=look_up>
                <label for="lookup-code">"Code, or its SHA-256"</label>
                <textarea
                    id="lookup-code"
                    data-testid="lookup-input"
                    spellcheck="false"
                    prop:value=move || input.get()
                    on:input=move |event| input.set(event_target_value(&event))
                ></textarea>
                <button type="submit" data-testid="lookup-submit">"Look up"</button>
            </form>
            <p data-testid="lookup-answer" aria-live="polite">
                {move || match answer.get() {
                    None => String::new(),
                    Some(Err(error)) => error,
                    Some(Ok(found)) if found.executions == 0 => {
                        format!("Code {}… never ran in the stored period.", &found.sha256[..12])
                    }
                    Some(Ok(found)) => format!(
                        "Code {}… ran {} times, first {}, last {}.",
                        &found.sha256[..12],
                        thousands(found.executions),
                        found.first_seen.as_deref().map(iso_local).unwrap_or_default(),
                        found.last_seen.as_deref().map(iso_local).unwrap_or_default()
                    ),
                }}
            </p>
        </section>
    }
}

fn iso_local(iso: &str) -> String {
    local_time(js_sys::Date::parse(iso) as i64)
}
