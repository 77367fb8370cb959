use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::*;
use crate::{keys, sign_rs256_jwt, FakeGitHub, OidcConfig, APP_ID, CLIENT_ID};

fn app(config: FakeConfig) -> App {
    App::new(
        config,
        "127.0.0.1:1".parse().unwrap(),
        SharedState::default(),
    )
    .unwrap()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn app_jwt_with(key: &str, claims: Value) -> String {
    sign_rs256_jwt(key, &json!({"alg": "RS256", "typ": "JWT"}), &claims)
}

fn app_jwt() -> String {
    let now = unix_now();
    app_jwt_with(
        keys::APP_KEY_PKCS1_PEM,
        json!({"iat": now - 60, "exp": now + 540, "iss": CLIENT_ID}),
    )
}

fn req(method: &str, path: &str, authorization: Option<String>, body: &str) -> Req {
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", "token-lease-test".parse().unwrap());
    headers.insert("accept", MEDIA_TYPE.parse().unwrap());
    headers.insert("x-github-api-version", API_VERSION.parse().unwrap());
    headers.insert("host", "127.0.0.1:1".parse().unwrap());
    if let Some(authorization) = authorization {
        headers.insert("authorization", authorization.parse().unwrap());
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let uri: Uri = format!("{path}?{query}").parse().unwrap();
    Req {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query_pairs(&uri),
        headers,
        body: Bytes::from(body.to_owned()),
    }
}

fn call(app: &App, req: &Req) -> Reply {
    app.dispatch(
        &classify(&app.config.path_prefix, &req.method, &req.path),
        req,
    )
}

/// `DELETE /installation/token` with `authorization` as the Authorization header.
fn revoke_with(app: &App, authorization: &str) -> Reply {
    call(
        app,
        &req(
            "DELETE",
            "/installation/token",
            Some(authorization.to_owned()),
            "",
        ),
    )
}

/// `GET /installation/repositories` with an installation token, as a later step uses it.
fn list_with(app: &App, token: &str) -> Reply {
    call(
        app,
        &req(
            "GET",
            "/installation/repositories",
            Some(format!("token {token}")),
            "",
        ),
    )
}

/// The token of a 201 token answer.
fn token_of(reply: &Reply) -> String {
    reply.value()["token"].as_str().unwrap().to_owned()
}

fn with_jwt(app: &App, method: &str, path: &str, jwt: &str, body: &str) -> Reply {
    call(app, &req(method, path, Some(format!("Bearer {jwt}")), body))
}

fn create(app: &App, body: &str) -> Reply {
    with_jwt(
        app,
        "POST",
        "/app/installations/1001/access_tokens",
        &app_jwt(),
        body,
    )
}

fn schema_errors(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    schema::validate(schema, value, "", &mut errors);
    errors
}

#[test]
fn routes() {
    assert_eq!(classify("", "GET", "/app"), Endpoint::GetApp);
    assert_eq!(
        classify("/api/v3", "GET", "/api/v3/repos/o/r/installation"),
        Endpoint::RepoInstallation("o".into(), "r".into())
    );
    assert_eq!(
        classify("/api/v3", "GET", "/repos/o/r/installation"),
        Endpoint::Unknown
    );
    assert_eq!(
        classify("/api/v3", "GET", "/api/v3x/app"),
        Endpoint::Unknown
    );
    assert_eq!(classify("", "GET", "/app/"), Endpoint::NotFound);
    assert_eq!(
        classify("", "POST", "/installation/token"),
        Endpoint::NotFound
    );
    assert_eq!(
        classify("/api/v3", "GET", "/sts/exchange"),
        Endpoint::StsExchange
    );
}

#[test]
fn app_jwt_checks_bite() {
    let app = app(FakeConfig::default());
    let now = unix_now();
    let good = json!({"iat": now - 60, "exp": now + 540, "iss": APP_ID});
    let lookup = "/repos/octo-org/api/installation";
    assert_eq!(with_jwt(&app, "GET", lookup, &app_jwt(), "").status, 200);
    for iss in [json!(APP_ID), json!(APP_ID.to_string()), json!(CLIENT_ID)] {
        let mut claims = good.clone();
        claims["iss"] = iss;
        let jwt = app_jwt_with(keys::APP_KEY_PKCS8_PEM, claims);
        assert_eq!(with_jwt(&app, "GET", "/app", &jwt, "").status, 200);
    }
    let cases: Vec<(String, &str)> = vec![
        (
            app_jwt_with(keys::WRONG_KEY_PKCS8_PEM, good.clone()),
            "A JSON web token could not be decoded",
        ),
        (
            app_jwt_with(keys::APP_KEY_PKCS8_PEM, json!({"iat": now - 60, "exp": now + 660, "iss": APP_ID})),
            "'Expiration time' claim ('exp') is too far in the future",
        ),
        (
            app_jwt_with(keys::APP_KEY_PKCS8_PEM, json!({"iat": now - 700, "exp": now - 100, "iss": APP_ID})),
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
        ),
        (
            app_jwt_with(keys::APP_KEY_PKCS8_PEM, json!({"iat": now + 120, "exp": now + 500, "iss": APP_ID})),
            "'Issued at' claim ('iat') must be an Integer representing a time in the past.",
        ),
        (
            app_jwt_with(keys::APP_KEY_PKCS8_PEM, json!({"iat": "soon", "exp": now + 500, "iss": APP_ID})),
            "'Issued at' claim ('iat') must be an Integer representing a time in the past.",
        ),
        (
            app_jwt_with(keys::APP_KEY_PKCS8_PEM, json!({"iat": now, "exp": now + 500, "iss": 999})),
            "Integration not found",
        ),
        ("not.a.jwt".to_owned(), "A JSON web token could not be decoded"),
        (
            format!("{}.{}.", crypto::b64url(r#"{"alg":"none"}"#), crypto::b64url(good.to_string())),
            "A JSON web token could not be decoded",
        ),
    ];
    for (jwt, message) in cases {
        let reply = with_jwt(&app, "GET", lookup, &jwt, "");
        assert_eq!(reply.status, 401, "{message}");
        assert_eq!(reply.value()["message"], message);
        assert_eq!(reply.value()["documentation_url"], DOCS);
    }
    let no_auth = call(&app, &req("GET", lookup, None, ""));
    assert_eq!(no_auth.status, 401);
    let token_scheme = call(
        &app,
        &req("GET", lookup, Some(format!("token {}", app_jwt())), ""),
    );
    assert_eq!(token_scheme.status, 401);
    let lower = call(
        &app,
        &req("GET", lookup, Some(format!("bearer {}", app_jwt())), ""),
    );
    assert_eq!(lower.status, 200);
}

#[test]
fn clock_skew_makes_a_good_jwt_fail() {
    let ahead = app(FakeConfig {
        clock_skew_secs: 600,
        ..FakeConfig::default()
    });
    let reply = with_jwt(&ahead, "GET", "/app", &app_jwt(), "");
    assert_eq!(reply.status, 401);
    let behind = app(FakeConfig {
        clock_skew_secs: -120,
        ..FakeConfig::default()
    });
    let reply = with_jwt(&behind, "GET", "/app", &app_jwt(), "");
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.value()["message"],
        "'Expiration time' claim ('exp') is too far in the future"
    );
}

#[test]
fn required_headers() {
    let app = app(FakeConfig::default());
    let mut request = req("GET", "/app", Some(format!("Bearer {}", app_jwt())), "");
    request.headers.remove("user-agent");
    let reply = call(&app, &request);
    assert_eq!(reply.status, 403);
    assert!(reply.value()["message"]
        .as_str()
        .unwrap()
        .contains("User-Agent"));
    for header in ["accept", "x-github-api-version"] {
        let mut request = req("GET", "/app", Some(format!("Bearer {}", app_jwt())), "");
        request.headers.remove(header);
        assert_eq!(call(&app, &request).status, 400, "{header}");
    }
    let mut request = req("GET", "/app", Some(format!("Bearer {}", app_jwt())), "");
    request.headers.insert(
        "accept",
        "application/json, application/vnd.github+json"
            .parse()
            .unwrap(),
    );
    assert_eq!(call(&app, &request).status, 200);
}

#[test]
fn lookups() {
    let app = app(FakeConfig::default());
    let jwt = app_jwt();
    let schema = schema::response_schema(GET_INSTALLATION_OP, "200");
    for (path, status, id) in [
        ("/repos/octo-org/api/installation", 200, 1001),
        ("/repos/Octo-Org/API/installation", 200, 1001),
        ("/orgs/octo-org/installation", 200, 1001),
        ("/users/octo-org/installation", 200, 1001),
        ("/users/octocat/installation", 200, 1002),
        ("/repos/octocat/dotfiles/installation", 200, 1002),
        ("/app/installations/1002", 200, 1002),
        ("/repos/octocat/secret/installation", 404, 0),
        ("/orgs/octocat/installation", 404, 0),
        ("/users/nobody/installation", 404, 0),
        ("/app/installations/42", 404, 0),
        ("/app/installations/x", 404, 0),
    ] {
        let reply = with_jwt(&app, "GET", path, &jwt, "");
        assert_eq!(reply.status, status, "{path}");
        let body = reply.value();
        if status == 200 {
            assert_eq!(body["id"], id);
            assert_eq!(schema_errors(schema, &body), Vec::<String>::new(), "{path}");
        } else {
            assert_eq!(body["message"], "Not Found");
        }
    }
    let org = with_jwt(&app, "GET", "/orgs/octo-org/installation", &jwt, "").value();
    assert_eq!(org["account"]["type"], "Organization");
    assert_eq!(org["repository_selection"], "all");
    assert_eq!(org["app_slug"], crate::APP_SLUG);
    assert_eq!(org["permissions"]["contents"], "write");
    let app_body = with_jwt(&app, "GET", "/app", &jwt, "").value();
    assert_eq!(
        schema_errors(schema::response_schema(GET_APP_OP, "200"), &app_body),
        Vec::<String>::new()
    );
}

#[test]
fn create_token_scoping_and_schema() {
    let app = app(FakeConfig::default());
    let created = create(
        &app,
        r#"{"repositories":["api","WEB"],"permissions":{"contents":"read","issues":"write"}}"#,
    );
    assert_eq!(created.status, 201);
    let body = created.value();
    let schema = schema::response_schema(CREATE_TOKEN_OP, "201");
    assert_eq!(schema_errors(schema, &body), Vec::<String>::new());
    assert_eq!(body["repository_selection"], "selected");
    assert_eq!(
        body["permissions"],
        json!({"contents": "read", "issues": "write"})
    );
    assert_eq!(body["repositories"][1]["full_name"], "octo-org/web");
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("ghs_") && token.len() == 40);
    assert!(token[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));

    let listed = list_with(&app, token);
    assert_eq!(listed.status, 200);
    let names: Vec<String> = listed.value()["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|repo| repo["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["api", "web"]);

    let everything = create(&app, "");
    assert_eq!(everything.status, 201);
    let body = everything.value();
    assert_eq!(body["repository_selection"], "all");
    assert_eq!(body["permissions"]["pull_requests"], "write");
    assert!(body.get("repositories").is_none());
    let issued = lock(&app.shared).tokens.last().unwrap().issued.clone();
    assert_eq!(issued.repositories, None);
    assert!(!issued.via_sts);

    let by_id = create(&app, r#"{"repository_ids":[1001003]}"#).value();
    assert_eq!(by_id["repositories"][0]["name"], "docs");

    for (body, status, message) in [
        (r#"{"repositories":"api"}"#, 422, "Invalid request."),
        (r#"{"repositories":[1]}"#, 422, "Invalid request."),
        (
            r#"{"permissions":{"contents":"admin"}}"#,
            422,
            "Invalid request.",
        ),
        (r#"{"permissions":"write-all"}"#, 422, "Invalid request."),
        (r#"{"repository":["api"]}"#, 422, "Invalid request."),
        (r#"[]"#, 422, "Invalid request."),
        (r#"{"repositories":["api""#, 400, "Problems parsing JSON"),
        (r#"{"repositories":["octo-org/api"]}"#, 422, NOT_ACCESSIBLE),
        (r#"{"repositories":["secret"]}"#, 422, NOT_ACCESSIBLE),
        (r#"{"repository_ids":[7]}"#, 422, NOT_ACCESSIBLE),
        (
            r#"{"permissions":{"pull-requests":"write"}}"#,
            422,
            NOT_GRANTED,
        ),
        (
            r#"{"permissions":{"administration":"read"}}"#,
            422,
            NOT_GRANTED,
        ),
        (r#"{"permissions":{"actions":"write"}}"#, 422, NOT_GRANTED),
    ] {
        let reply = create(&app, body);
        assert_eq!(reply.status, status, "{body}");
        let value = reply.value();
        assert!(
            value["message"].as_str().unwrap().starts_with(message),
            "{body}: {value}"
        );
        if message == "Invalid request." {
            assert!(value["errors"][0]["code"].is_string());
            assert_eq!(
                schema_errors(schema::response_schema(CREATE_TOKEN_OP, "422"), &value),
                Vec::<String>::new()
            );
        }
    }
    let many: Vec<String> = (0..501).map(|i| format!("r{i}")).collect();
    let reply = create(&app, &json!({"repositories": many}).to_string());
    assert_eq!(reply.status, 422);
    let missing = with_jwt(
        &app,
        "POST",
        "/app/installations/9/access_tokens",
        &app_jwt(),
        "{}",
    );
    assert_eq!(missing.status, 404);

    let user = with_jwt(
        &app,
        "POST",
        "/app/installations/1002/access_tokens",
        &app_jwt(),
        r#"{"repositories":["api"]}"#,
    );
    assert_eq!(user.status, 422, "another account's repository");
}

#[test]
fn revoke_once() {
    let app = app(FakeConfig::default());
    let token = token_of(&create(&app, "{}"));
    let revoke = |scheme: &str| revoke_with(&app, &format!("{scheme} {token}"));
    assert_eq!(revoke("TOKEN").status, 204);
    let again = revoke("Bearer");
    assert_eq!(again.status, 401);
    assert_eq!(again.value()["message"], "Bad credentials");
    let listed = list_with(&app, &token);
    assert_eq!(listed.status, 401);
    let unknown = revoke_with(&app, "token ghs_nope");
    assert_eq!(unknown.status, 401);
    assert!(lock(&app.shared).tokens[0].issued.revoked);
}

#[test]
fn expired_tokens_are_bad_credentials() {
    let app = app(FakeConfig::default());
    let token = token_of(&create(&app, "{}"));
    lock(&app.shared).tokens[0].expires_unix = unix_now() - 1;
    let revoke = revoke_with(&app, &format!("token {token}"));
    assert_eq!(revoke.status, 401);
}

#[test]
fn stateless_tokens() {
    let app = app(FakeConfig {
        token_format: TokenFormat::Stateless,
        ..FakeConfig::default()
    });
    let token = token_of(&create(&app, "{}"));
    let prefix = format!("ghs_{APP_ID}_");
    assert!(token.starts_with(&prefix), "{token}");
    assert!(token.len() > 200);
    let parts: Vec<&str> = token[prefix.len()..].split('.').collect();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|part| !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
    let revoke = revoke_with(&app, &format!("Bearer {token}"));
    assert_eq!(revoke.status, 204);
}

#[test]
fn prefix_is_enforced() {
    let app = app(FakeConfig {
        path_prefix: "/api/v3".into(),
        ..FakeConfig::default()
    });
    let jwt = app_jwt();
    assert_eq!(
        with_jwt(
            &app,
            "GET",
            "/api/v3/repos/octo-org/api/installation",
            &jwt,
            ""
        )
        .status,
        200
    );
    assert_eq!(
        with_jwt(&app, "GET", "/repos/octo-org/api/installation", &jwt, "").status,
        404
    );
    let body = with_jwt(&app, "GET", "/api/v3/orgs/octo-org/installation", &jwt, "").value();
    assert!(body["access_tokens_url"]
        .as_str()
        .unwrap()
        .contains("/api/v3/app/installations/1001/"));
}

fn oidc_token(app: &App, query: &str) -> Reply {
    let token = app.config.oidc.request_token.clone();
    call(
        app,
        &req(
            "GET",
            &format!("/_actions/idtoken?{query}"),
            Some(format!("Bearer {token}")),
            "",
        ),
    )
}

fn sts(app: &App, query: &str, jwt: &str) -> Reply {
    call(
        app,
        &req(
            "GET",
            &format!("/sts/exchange?{query}"),
            Some(format!("Bearer {jwt}")),
            "",
        ),
    )
}

#[test]
fn oidc_tokens_verify() {
    let app = app(FakeConfig::default());
    let reply = oidc_token(&app, "api-version=2.0&audience=127.0.0.1");
    assert_eq!(reply.status, 200);
    let jwt = reply.value()["value"].as_str().unwrap().to_owned();
    let parsed = Jwt::parse(&jwt).unwrap();
    parsed
        .verify(&crypto::public_key(keys::OIDC_ISSUER_KEY_PKCS8_PEM).unwrap())
        .unwrap();
    assert_eq!(parsed.header["typ"], "JWT");
    assert!(parsed.header["kid"].is_string());
    assert_eq!(parsed.claims["aud"], "127.0.0.1");
    assert_eq!(parsed.claims["iss"], crate::DEFAULT_OIDC_ISSUER);
    assert_eq!(
        parsed.claims["sub"],
        "repo:octo-org/api:ref:refs/heads/main"
    );
    let exp = parsed.claims["exp"].as_i64().unwrap();
    assert!((exp - unix_now() - OIDC_LIFETIME_SECS).abs() <= 2);

    let default_aud = oidc_token(&app, "api-version=2.0").value()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        Jwt::parse(&default_aud).unwrap().claims["aud"],
        "https://github.com/octo-org"
    );
    let wrong = call(
        &app,
        &req(
            "GET",
            "/_actions/idtoken?api-version=2.0",
            Some("Bearer nope".into()),
            "",
        ),
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(oidc_token(&app, "api-version=2.0?audience=x").status, 400);
}

#[test]
fn sts_exchange_policy() {
    let mut config = FakeConfig::default();
    let mut org_policy = config.trust_policies[0].clone();
    org_policy.scope = "octo-org".into();
    org_policy.identity = "deploy".into();
    org_policy.claim_pattern =
        [("event_name".to_owned(), "push|workflow_dispatch".to_owned())].into();
    org_policy.repositories = vec!["web".into()];
    org_policy.permissions = [("issues".to_owned(), "write".to_owned())].into();
    let mut strict = org_policy.clone();
    strict.identity = "strict".into();
    strict.claim_pattern = [("event_name".to_owned(), "pull".to_owned())].into();
    let mut greedy = org_policy.clone();
    greedy.identity = "greedy".into();
    greedy.permissions = [("administration".to_owned(), "write".to_owned())].into();
    let mut other_issuer = org_policy.clone();
    other_issuer.identity = "gitlab".into();
    other_issuer.issuer = "https://gitlab.com".into();
    let mut tags = org_policy.clone();
    tags.identity = "tags".into();
    tags.subject_pattern = Some("repo:octo-org/api:ref:refs/tags/.*".into());
    config
        .trust_policies
        .extend([org_policy, strict, greedy, other_issuer, tags]);
    let app = app(config);

    let jwt_for = |aud: &str| {
        oidc_token(&app, &format!("api-version=2.0&audience={aud}")).value()["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let jwt = jwt_for("127.0.0.1");

    let ok = sts(&app, "scope=octo-org/api&identity=ci", &jwt);
    assert_eq!(ok.status, 200, "{:?}", ok.value());
    let token = ok.value()["token"].as_str().unwrap().to_owned();
    let issued = lock(&app.shared).tokens.last().unwrap().issued.clone();
    assert_eq!(issued.token, token);
    assert!(issued.via_sts);
    assert_eq!(issued.repositories, Some(vec!["api".to_owned()]));
    assert_eq!(
        issued.permissions,
        [("contents".to_owned(), "read".to_owned())].into()
    );
    let revoke = revoke_with(&app, &format!("token {token}"));
    assert_eq!(revoke.status, 204);

    let org = sts(&app, "scope=octo-org&identity=deploy", &jwt);
    assert_eq!(org.status, 200, "{:?}", org.value());
    let issued = lock(&app.shared).tokens.last().unwrap().issued.clone();
    assert_eq!(issued.repositories, Some(vec!["web".to_owned()]));

    let mut forged_claims = app.config.oidc.claims.clone();
    forged_claims.insert("aud".into(), json!("127.0.0.1"));
    forged_claims.insert("iss".into(), json!(crate::DEFAULT_OIDC_ISSUER));
    forged_claims.insert("exp".into(), json!(unix_now() + 60));
    let forged = sign_rs256_jwt(
        keys::WRONG_KEY_PKCS8_PEM,
        &json!({"alg": "RS256"}),
        &Value::Object(forged_claims.clone()),
    );
    let mut expired_claims = forged_claims.clone();
    expired_claims.insert("exp".into(), json!(unix_now() - 10));
    let expired = sign_rs256_jwt(
        keys::OIDC_ISSUER_KEY_PKCS8_PEM,
        &json!({"alg": "RS256"}),
        &Value::Object(expired_claims),
    );

    for (query, jwt, status, code, needle) in [
        ("identity=ci", jwt.clone(), 400, 3, "scope"),
        ("scope=octo-org/api", jwt.clone(), 400, 3, "identity"),
        ("scope=octo-org/api&identity=ci", forged, 401, 16, "verify"),
        (
            "scope=octo-org/api&identity=ci",
            expired,
            401,
            16,
            "expired",
        ),
        (
            "scope=octo-org/api&identity=ci",
            "garbage".into(),
            401,
            16,
            "malformed",
        ),
        (
            "scope=octo-org/api&identity=ci",
            jwt_for("https://github.com/octo-org"),
            401,
            16,
            "invalid audience: got https://github.com/octo-org, want 127.0.0.1",
        ),
        (
            "scope=octo-org/api&identity=missing",
            jwt.clone(),
            404,
            5,
            "unable to find trust policy for \"missing\"",
        ),
        (
            "scope=octo-org&identity=strict",
            jwt.clone(),
            403,
            7,
            "event_name",
        ),
        (
            "scope=octo-org&identity=gitlab",
            jwt.clone(),
            403,
            7,
            "issuer",
        ),
        (
            "scope=octo-org&identity=tags",
            jwt.clone(),
            403,
            7,
            "subject",
        ),
        (
            "scope=octo-org&identity=greedy",
            jwt.clone(),
            403,
            7,
            NOT_GRANTED,
        ),
    ] {
        let reply = sts(&app, query, &jwt);
        let body = reply.value();
        assert_eq!(
            (reply.status, body["code"].as_u64()),
            (status, Some(code)),
            "{query}: {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
        assert_eq!(body["details"], json!([]));
    }
}

#[test]
fn sts_honours_a_custom_audience_and_claims() {
    let mut config = FakeConfig::default();
    config.trust_policies[0].audience = Some("octo-sts.dev".into());
    config.oidc = OidcConfig {
        claims: {
            let mut claims = config.oidc.claims.clone();
            claims.insert("sub".into(), json!("repo:octo-org/api:pull_request"));
            claims
        },
        ..config.oidc
    };
    let app = app(config);
    let jwt = oidc_token(&app, "api-version=2.0&audience=octo-sts.dev").value()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = sts(&app, "scope=octo-org/api&identity=ci", &jwt);
    assert_eq!(reply.status, 403, "aud passes, subject does not");
    assert!(reply.value()["message"]
        .as_str()
        .unwrap()
        .contains("pull_request"));
}

/// A raw HTTP/1.1 exchange: enough to test the running server without a client crate.
fn http(fake: &FakeGitHub, request: &str) -> (u16, String) {
    let addr = fake.base_url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    (status, response)
}

fn get(fake: &FakeGitHub, path: &str, authorization: &str) -> (u16, String) {
    http(
        fake,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: t\r\nAccept: {MEDIA_TYPE}\r\n\
             X-GitHub-Api-Version: {API_VERSION}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
        ),
    )
}

#[test]
fn server_records_requests_and_serves_faults_once() {
    let fake = FakeGitHub::start(FakeConfig::default());
    assert!(fake.api_url().starts_with("http://127.0.0.1:"));
    assert!(fake
        .oidc_request_url()
        .ends_with("/_actions/idtoken?api-version=2.0"));
    let bearer = format!("Bearer {}", app_jwt());
    fake.inject(
        Route::InstallationLookup,
        Fault::Status {
            status: 429,
            retry_after: Some(7),
            body: None,
        },
    );
    fake.inject(Route::InstallationLookup, Fault::NotJson);
    fake.inject(Route::InstallationLookup, Fault::Truncated);
    let (status, response) = get(&fake, "/repos/octo-org/api/installation?x=1", &bearer);
    assert_eq!(status, 429);
    assert!(response.to_ascii_lowercase().contains("retry-after: 7"));
    assert!(response.contains("\"documentation_url\""));
    let (status, response) = get(&fake, "/repos/octo-org/api/installation", &bearer);
    assert_eq!(status, 200);
    assert!(response.contains("text/html"));
    let (status, response) = get(&fake, "/repos/octo-org/api/installation", &bearer);
    assert_eq!(status, 200);
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    assert!(serde_json::from_str::<Value>(body).is_err());
    let (status, _) = get(&fake, "/repos/octo-org/api/installation", &bearer);
    assert_eq!(status, 200);

    let requests = fake.requests();
    let lines: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.line(), r.status))
        .collect();
    assert_eq!(
        lines,
        [
            "GET /repos/octo-org/api/installation 429",
            "GET /repos/octo-org/api/installation 200",
            "GET /repos/octo-org/api/installation 200",
            "GET /repos/octo-org/api/installation 200",
        ]
    );
    assert_eq!(requests[0].query.as_deref(), Some("x=1"));
    assert_eq!(requests[0].header("User-Agent"), Some("t"));
    assert_eq!(requests[0].header("authorization"), Some(bearer.as_str()));
    fake.clear_requests();
    assert!(fake.requests().is_empty());

    let body = r#"{"repositories":["api"]}"#;
    let (status, response) = http(
        &fake,
        &format!(
            "POST /app/installations/1001/access_tokens HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\
         Accept: {MEDIA_TYPE}\r\nX-GitHub-Api-Version: {API_VERSION}\r\nAuthorization: {bearer}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 201, "{response}");
    assert_eq!(
        fake.requests()[0].body,
        Some(json!({"repositories": ["api"]}))
    );
    assert_eq!(fake.tokens().len(), 1);
    let token = fake.tokens()[0].token.clone();
    assert_eq!(
        fake.token(&token).unwrap().repositories,
        Some(vec!["api".to_owned()])
    );

    let (status, response) = get(&fake, "/app", "Bearer x");
    assert_eq!(status, 401);
    assert!(response.contains("could not be decoded"));
}

#[test]
fn a_hung_request_blocks_neither_others_nor_shutdown() {
    let fake = FakeGitHub::start(FakeConfig::default());
    fake.inject(Route::Revoke, Fault::Hang);
    let addr = fake.base_url().trim_start_matches("http://").to_owned();
    let mut hung = TcpStream::connect(addr).unwrap();
    hung.write_all(
        format!(
            "DELETE /installation/token HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nAccept: {MEDIA_TYPE}\r\n\
             X-GitHub-Api-Version: {API_VERSION}\r\nAuthorization: token ghs_x\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    // Wait until the hung request is recorded, so the fault is surely consumed.
    let started = Instant::now();
    while fake.requests().is_empty() {
        assert!(started.elapsed().as_secs() < 5);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fake.requests()[0].status, 0);
    let (status, _) = get(&fake, "/installation/repositories", "token ghs_x");
    assert_eq!(status, 401);
    let started = Instant::now();
    drop(fake);
    assert!(started.elapsed().as_secs() < 5);
    drop(hung);
}

#[test]
fn malformed_requests_get_4xx() {
    let fake = FakeGitHub::start(FakeConfig::default());
    for request in [
        "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
        "GET /sts/exchange?scope=%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
        "GET /_actions/idtoken HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\nConnection: close\r\n\r\n".to_owned(),
        format!(
            "POST /app/installations/1001/access_tokens HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\
             Accept: {MEDIA_TYPE}\r\nX-GitHub-Api-Version: {API_VERSION}\r\nAuthorization: Bearer {}\r\n\
             Content-Length: 3\r\nConnection: close\r\n\r\n}}{{!",
            app_jwt()
        ),
    ] {
        let (status, response) = http(&fake, &request);
        assert!((400..500).contains(&status), "{request}: {response}");
    }
    let (status, _) = get(&fake, "/app", "Bearer x");
    assert_eq!(status, 401, "still serving");
}
