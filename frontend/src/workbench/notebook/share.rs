//! Share by link: the open notebook carried whole in the link's `#nb=…` part (the
//! `notebook` crate's codec), which the browser never sends to any server — not ours, not
//! the usage statistics. The Share box makes and copies the link; `documents` opens one.

use leptos::prelude::*;
use notebook::{DEFAULT_LINK_LIMIT, FRAGMENT_PREFIX, MAX_LINK_LIMIT, ShareError, SharedOutputs};
use wasm_bindgen::JsValue;

use super::state::NotebookState;
use crate::format;

/// The longest link the user picked (localStorage), in characters.
const LIMIT_KEY: &str = "workbench.share.limit";

/// The limits offered, with what each is good for.
const LIMITS: [(usize, &str); 3] = [
    (DEFAULT_LINK_LIMIT, "chat tools keep it whole"),
    (65_536, "mail and most web forms"),
    (MAX_LINK_LIMIT, "the most a browser opens"),
];

/// A link made: the whole address, and which outputs it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub outputs: SharedOutputs,
}

/// The payload of a share link in the page's address, if it has one.
pub fn payload_in_address() -> Option<String> {
    let hash = web_sys::window()?.location().hash().ok()?;
    hash.strip_prefix('#')?
        .strip_prefix(FRAGMENT_PREFIX)
        .map(str::to_owned)
}

/// Takes the share link out of the address (without a reload or a history entry).
pub fn clear_address() {
    let Some(window) = web_sys::window() else {
        return;
    };
    if payload_in_address().is_none() {
        return;
    }
    let location = window.location();
    let plain = format!(
        "{}{}",
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    );
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&plain));
    }
}

/// A link to the open notebook of at most `limit` characters; with outputs if asked and
/// they fit (images go first).
pub fn link(state: NotebookState, outputs: bool, limit: usize) -> Result<Link, ShareError> {
    let limit = limit.min(MAX_LINK_LIMIT);
    let base = web_sys::window()
        .map(|window| {
            let location = window.location();
            format!(
                "{}{}#{FRAGMENT_PREFIX}",
                location.origin().unwrap_or_default(),
                location.pathname().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let title = state.meta.with_untracked(|meta| meta.title.clone());
    let room = limit.saturating_sub(base.len());
    match state.with(|model| model.share(&title, outputs, room)) {
        Ok(shared) => Ok(Link {
            url: format!("{base}{}", shared.payload),
            outputs: shared.outputs,
        }),
        Err(ShareError::TooLong { chars, .. }) => Err(ShareError::TooLong {
            chars: chars + base.len(),
            limit,
        }),
        Err(other) => Err(other),
    }
}

fn kept_limit() -> usize {
    web_sys::window()
        .and_then(|window| window.local_storage().ok().flatten())
        .and_then(|storage| storage.get_item(LIMIT_KEY).ok().flatten())
        .and_then(|text| text.parse().ok())
        .filter(|limit| LIMITS.iter().any(|(offered, _)| offered == limit))
        .unwrap_or(DEFAULT_LINK_LIMIT)
}

fn keep_limit(limit: usize) {
    if let Some(storage) =
        web_sys::window().and_then(|window| window.local_storage().ok().flatten())
    {
        let _ = storage.set_item(LIMIT_KEY, &limit.to_string());
    }
}

/// What the link carries, in words.
fn carried(outputs: SharedOutputs) -> &'static str {
    match outputs {
        SharedOutputs::All => "with outputs",
        SharedOutputs::WithoutImages => "with outputs, images left out to keep it short",
        SharedOutputs::None => "without outputs",
    }
}

/// The Share box: the link to the open notebook, copied at once, its length, and the
/// choices (outputs, longest link); a notebook too big for a link is offered as a file.
#[component]
pub fn ShareBox(
    state: NotebookState,
    open: RwSignal<bool>,
    on_download: Callback<()>,
) -> impl IntoView {
    let outputs = RwSignal::new(true);
    let limit = RwSignal::new(kept_limit());
    // Made when the box opens and when a choice changes — not at each edit, which would
    // compress the whole notebook per keystroke and overwrite the clipboard (reopen the box
    // for a link with the latest edits).
    let made = Memo::new(move |_| link(state, outputs.get(), limit.get()));
    let copied = RwSignal::new(None::<bool>);
    let copy = move || {
        let Ok(link) = made.get_untracked() else {
            return;
        };
        copied.set(None);
        let Some(window) = web_sys::window() else {
            return;
        };
        let promise = window.navigator().clipboard().write_text(&link.url);
        leptos::task::spawn_local(async move {
            let done = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            copied.set(Some(done));
        });
    };
    // Copied as the box opens, as a Share button is expected to.
    Effect::new(move |_| {
        if made.with(Result::is_ok) {
            copy();
        }
    });
    let select_all = |event: web_sys::FocusEvent| {
        use wasm_bindgen::JsCast;
        if let Some(input) = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok())
        {
            input.select();
        }
    };
    view! {
        <div class="share-box" role="dialog" aria-label="Share this notebook" data-testid="share-box"
            on:keydown=move |event: web_sys::KeyboardEvent| if event.key() == "Escape" { open.set(false) }>
            <div class="share-choices">
                <label>
                    <input type="checkbox" data-testid="share-outputs"
                        prop:checked=move || outputs.get()
                        on:change=move |event| outputs.set(event_target_checked(&event)) />
                    " Include outputs"
                </label>
                <label>
                    "Longest link "
                    <select data-testid="share-limit"
                        on:change=move |event| {
                            if let Ok(chosen) = event_target_value(&event).parse::<usize>() {
                                keep_limit(chosen);
                                limit.set(chosen);
                            }
                        }>
                        {LIMITS.iter().map(|&(chars, what)| view! {
                            <option value=chars.to_string() selected=move || limit.get() == chars>
                                {format!("{} characters — {what}", format::thousands(chars as u64))}
                            </option>
                        }).collect_view()}
                    </select>
                </label>
                <button class="secondary small" data-testid="share-close" on:click=move |_| open.set(false)>"Close"</button>
            </div>
            {move || match made.get() {
                Ok(link) => view! {
                    <div class="share-link">
                        <input type="text" readonly data-testid="share-link" aria-label="Link to this notebook"
                            prop:value=link.url.clone() on:focus=select_all />
                        <button class="small" data-testid="share-copy" on:click=move |_| copy()>"Copy"</button>
                    </div>
                    <p class="hint" data-testid="share-size">
                        {format!(
                            "{} characters, {}. {}",
                            format::thousands(link.url.len() as u64),
                            carried(link.outputs),
                            match copied.get() {
                                Some(true) => "Copied.",
                                Some(false) => "Select it and copy it yourself: this browser did not let the page copy.",
                                None => "",
                            },
                        )}
                    </p>
                    <p class="hint">"The notebook travels inside the link, after the #: it is never sent to any server."</p>
                }.into_any(),
                Err(error) => view! {
                    <p class="notice error" role="alert" data-testid="share-error">
                        {error.to_string()}
                        " "
                        <button class="small" data-testid="share-download" on:click=move |_| on_download.run(())>"Download .ipynb"</button>
                    </p>
                }.into_any(),
            }}
        </div>
    }
}
