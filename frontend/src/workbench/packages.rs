//! The packages panel: what is installed (name and version), and an install box that runs
//! micropip — from the Pyodide distribution or the server's package index.

use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::Package;

use super::session::Session;

#[component]
pub fn PackagesPanel(
    session: Session,
    /// Bumped when something may have installed packages (a run, a restart).
    changed: RwSignal<u64>,
) -> impl IntoView {
    let installed = RwSignal::new(Vec::<Package>::new());
    let name = RwSignal::new(String::new());
    let installing = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<(bool, String)>);

    let refresh = move || {
        let Some(runtime) = session.runtime() else {
            return;
        };
        spawn_local(async move {
            match runtime.list_packages().await {
                Ok(packages) => installed.set(packages),
                Err(error) => leptos::logging::warn!("could not list the packages: {error}"),
            }
        });
    };
    Effect::new(move |_| {
        changed.track();
        refresh();
    });

    let install = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        let requested = name.get_untracked().trim().to_owned();
        if requested.is_empty() || installing.get_untracked().is_some() {
            return;
        }
        installing.set(Some(requested.clone()));
        notice.set(None);
        spawn_local(async move {
            let outcome = match session.install(&requested).await {
                Ok(answer) if answer.success => {
                    name.set(String::new());
                    (
                        true,
                        format!(
                            "{} {} installed",
                            answer.package,
                            answer.version.unwrap_or_default()
                        ),
                    )
                }
                Ok(answer) => (
                    false,
                    answer
                        .error
                        .unwrap_or_else(|| format!("could not install {requested}")),
                ),
                Err(error) => (false, error.to_string()),
            };
            installing.set(None);
            notice.set(Some(outcome));
            refresh();
        });
    };

    view! {
        <section class="panel" aria-labelledby="packages-title" data-testid="packages-panel">
            <h2 id="packages-title">"Packages"</h2>
            <form class="install" on:submit=install>
                <label for="package-name" class="visually-hidden">"Package to install"</label>
                <input
                    id="package-name"
                    type="text"
                    placeholder="e.g. seaborn"
                    autocomplete="off"
                    spellcheck="false"
                    data-testid="package-name"
                    prop:value=move || name.get()
                    on:input=move |event| name.set(event_target_value(&event))
                />
                <button type="submit" data-testid="install" disabled=move || installing.get().is_some()>
                    "Install"
                </button>
            </form>
            {move || {
                installing
                    .get()
                    .map(|package| {
                        view! {
                            <p class="hint" role="status" data-testid="installing">
                                <progress aria-label="Installing"></progress>
                                {format!(" Installing {package}…")}
                            </p>
                        }
                    })
            }}
            {move || {
                notice
                    .get()
                    .map(|(ok, text)| {
                        view! {
                            <p class=if ok { "notice ok" } else { "notice error" } role="status" data-testid="install-notice">
                                {text}
                            </p>
                        }
                    })
            }}
            <details>
                <summary>{move || format!("{} installed", installed.with(Vec::len))}</summary>
                <ul class="package-list" data-testid="package-list">
                    <For each=move || installed.get() key=|package| (package.name.clone(), package.version.clone()) let:package>
                        <li data-testid="package">
                            <span>{package.name}</span>
                            " "
                            <span class="hint">{package.version}</span>
                        </li>
                    </For>
                </ul>
            </details>
        </section>
    }
}
