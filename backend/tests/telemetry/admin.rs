//! Admin authentication: a bearer token or the login's session cookie, and a token made on
//! first start.

use backend::testing::{ADMIN_TOKEN, spawn_app, spawn_app_with};
use protocol::ErrorCode;
use serde_json::json;

#[tokio::test]
async fn admin_endpoints_need_the_token_as_bearer_or_cookie() {
    let app = spawn_app().await;
    let client = app.client();
    let missing = client.get("/api/dashboard/stats").await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.error().code, ErrorCode::Unauthorized);
    let wrong = client
        .send(
            "GET",
            "/api/dashboard/stats",
            &[("Authorization", "Bearer nope")],
            b"",
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        client.get_as_admin("/api/dashboard/stats").await.status,
        200
    );

    let refused = client
        .post_json("/api/admin/login", &json!({"token": "nope"}))
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "the admin token is wrong");
    let login = client
        .post_json("/api/admin/login", &json!({"token": ADMIN_TOKEN}))
        .await;
    assert_eq!(login.status, 200);
    let cookie = login
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().expect("name=value").to_owned();
    let with_cookie = client
        .send("GET", "/api/dashboard/stats", &[("Cookie", &session)], b"")
        .await;
    assert_eq!(with_cookie.status, 200, "{}", with_cookie.body);
}

#[tokio::test]
async fn an_admin_token_is_made_on_first_start_and_kept_private() {
    let app = spawn_app_with(|config| config.admin_token = None).await;
    let path = app.data.path().join("admin-token");
    let token = std::fs::read_to_string(&path).expect("the token is kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let bearer = format!("Bearer {}", token.trim());
    let answer = app
        .client()
        .send(
            "GET",
            "/api/dashboard/stats",
            &[("Authorization", &bearer)],
            b"",
        )
        .await;
    assert_eq!(answer.status, 200);
}

/// Logs in and returns the `name=value` of the session cookie and the whole `Set-Cookie`.
async fn log_in(client: &backend::testing::Client, headers: &[(&str, &str)]) -> (String, String) {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let login = client
        .send(
            "POST",
            "/api/admin/login",
            &all,
            json!({"token": ADMIN_TOKEN}).to_string().as_bytes(),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let set_cookie = login
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    let session = set_cookie.split(';').next().expect("name=value").to_owned();
    (session, set_cookie)
}

#[tokio::test]
async fn the_cookie_holds_a_session_that_logout_revokes() {
    let app = spawn_app().await;
    let client = app.client();
    let (session, set_cookie) = log_in(&client, &[]).await;
    assert!(!set_cookie.contains(ADMIN_TOKEN), "{set_cookie}");
    assert!(set_cookie.contains("Max-Age=604800"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    let (other_session, _) = log_in(&client, &[]).await;
    assert_ne!(session, other_session, "every login gets its own session");

    let stats = |cookie: String| {
        let client = client.clone();
        async move {
            client
                .send("GET", "/api/dashboard/stats", &[("Cookie", &cookie)], b"")
                .await
        }
    };
    assert_eq!(stats(session.clone()).await.status, 200);
    let origin = format!("http://{}", app.address);
    let logout = client
        .send(
            "POST",
            "/api/admin/logout",
            &[
                ("Cookie", &session),
                ("Content-Type", "application/json"),
                ("Origin", &origin),
            ],
            b"{}",
        )
        .await;
    assert_eq!(logout.status, 200, "{}", logout.body);
    assert!(
        logout
            .header("set-cookie")
            .is_some_and(|cookie| cookie.contains("Max-Age=0")),
        "the browser's copy is cleared"
    );
    let replayed = stats(session).await;
    assert_eq!(replayed.status, 401, "a replayed cookie is refused");
    assert_eq!(
        replayed.json()["error"],
        "the session has ended: log in again"
    );
    assert_eq!(
        stats(other_session).await.status,
        200,
        "other sessions stay open"
    );
}

#[tokio::test]
async fn cookie_signed_imports_must_be_json_from_this_site_and_bearer_ones_need_not() {
    let app = spawn_app().await;
    let client = app.client();
    let (session, _) = log_in(&client, &[]).await;
    let own = format!("http://{}", app.address);
    let other_port = format!("http://127.0.0.1:{}", app.address.port() + 1);
    let body = json!({"events": []}).to_string();
    let import = |headers: Vec<(&'static str, String)>| {
        let client = client.clone();
        let body = body.clone();
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            client
                .send("POST", "/api/dashboard/import", &headers, body.as_bytes())
                .await
        }
    };
    let cookie = ("Cookie", session.clone());
    let json_type = ("Content-Type", "application/json".to_owned());
    for (headers, status, why) in [
        (
            vec![
                cookie.clone(),
                ("Content-Type", "text/plain".into()),
                ("Origin", own.clone()),
            ],
            415,
            "a form or no-CORS fetch cannot send JSON",
        ),
        (
            vec![cookie.clone(), json_type.clone(), ("Origin", other_port)],
            403,
            "another port of the same host",
        ),
        (
            vec![
                cookie.clone(),
                json_type.clone(),
                ("Sec-Fetch-Site", "same-site".into()),
            ],
            403,
            "a sibling subdomain",
        ),
        (
            vec![cookie.clone(), json_type.clone()],
            403,
            "no Origin at all",
        ),
        (
            vec![cookie.clone(), json_type.clone(), ("Origin", own.clone())],
            202,
            "this site",
        ),
        (
            vec![
                cookie.clone(),
                json_type.clone(),
                ("Sec-Fetch-Site", "same-origin".into()),
            ],
            202,
            "this site, as Fetch Metadata says",
        ),
        (
            vec![
                ("Authorization", format!("Bearer {ADMIN_TOKEN}")),
                ("Content-Type", "text/plain".into()),
                ("Origin", "https://elsewhere.example".into()),
            ],
            202,
            "a bearer token is no ambient credential",
        ),
    ] {
        let answer = import(headers).await;
        assert_eq!(answer.status, status, "{why}: {}", answer.body);
        if status == 403 {
            assert_eq!(answer.error().code, ErrorCode::Forbidden, "{why}");
        }
    }
}

#[tokio::test]
async fn the_cookie_is_secure_when_a_trusted_proxy_says_https() {
    let behind_proxy = spawn_app_with(|config| {
        config.trusted_proxy = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    let (_, set_cookie) = log_in(
        &behind_proxy.client(),
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-For", "203.0.113.5"),
        ],
    )
    .await;
    assert!(set_cookie.contains("Secure"), "{set_cookie}");

    let direct = spawn_app().await;
    let (_, set_cookie) = log_in(&direct.client(), &[("X-Forwarded-Proto", "https")]).await;
    assert!(
        !set_cookie.contains("Secure"),
        "an untrusted client's X-Forwarded-Proto is ignored: {set_cookie}"
    );
}

#[tokio::test]
async fn the_server_refuses_to_start_with_a_short_admin_token() {
    let data = tempfile::tempdir().expect("dir");
    let mut config = backend::testing::config_for(data.path());
    config.admin_token = Some("short-token".into());
    let error = backend::Application::build(config.clone())
        .await
        .expect_err("11 characters are too few")
        .to_string();
    assert!(
        error.contains("at least 16") && error.contains("openssl rand -hex 32"),
        "{error}"
    );
    config.admin_token = None;
    std::fs::write(data.path().join("admin-token"), "tiny").expect("written");
    let error = backend::Application::build(config)
        .await
        .expect_err("a short kept token too")
        .to_string();
    assert!(error.contains("admin-token"), "{error}");
}

#[tokio::test]
async fn logins_are_rate_limited_per_client_and_failures_are_logged() {
    let data = tempfile::tempdir().expect("dir");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["--addr", "127.0.0.1:0", "--trusted-proxy", "127.0.0.1"])
        .arg("--data-dir")
        .arg(data.path())
        .env("WORKBENCH_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(server.stdout.take().expect("stdout")).lines();
    let address: std::net::SocketAddr = loop {
        let line = lines.next_line().await.expect("reads").expect("a line");
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.trim_end_matches('/').parse().expect("an address");
        }
    };
    let client = backend::testing::Client::new(address);
    let guess = |client: backend::testing::Client, forwarded: &'static str| async move {
        client
            .send(
                "POST",
                "/api/admin/login",
                &[
                    ("Content-Type", "application/json"),
                    ("X-Forwarded-For", forwarded),
                ],
                json!({"token": "wrong-wrong-wrong-wrong"})
                    .to_string()
                    .as_bytes(),
            )
            .await
    };
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(guess(client.clone(), "203.0.113.7").await.status);
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10..], [429, 429]);
    let limited = guess(client.clone(), "203.0.113.7").await;
    assert_eq!(limited.error().code, ErrorCode::RateLimited);
    assert!(limited.header("retry-after").is_some());
    let (_, _) = log_in(&client, &[("X-Forwarded-For", "198.51.100.8")]).await;

    assert_eq!(
        client.metric("workbench_admin_login_failures_total").await,
        10
    );
    assert_eq!(
        client.metric("workbench_admin_logins_refused_total").await,
        3
    );
    let mut logged = 0;
    while logged < 10 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
            .await
            .expect("the failures are logged")
            .expect("reads")
            .expect("a line");
        if line.contains("failed admin login from 203.0.113.0/24") {
            logged += 1;
        }
    }
    server.kill().await.expect("stops");
}
