//! Admin authentication: a bearer token or the login's session cookie, and a token made on
//! first start.

use backend::testing::{ADMIN_TOKEN, spawn_app, spawn_app_with};
use serde_json::json;

#[tokio::test]
async fn admin_endpoints_need_the_token_as_bearer_or_cookie() {
    let app = spawn_app().await;
    let client = app.client();
    let missing = client.get("/api/dashboard/stats").await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["code"], "unauthorized");
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
