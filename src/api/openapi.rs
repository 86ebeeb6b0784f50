//! The OpenAPI 3.1 document served at `/openapi.json` and rendered by the vendored Swagger UI at
//! `/docs`. Every route, body, error and auth scheme is declared here or on its handler.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{envelope, health, v1, views, well_known};
use crate::error::{ErrorBody, ErrorDetail};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authkit",
        description = "Auth-and-accounts API: registration, login, JWT access tokens, rotating refresh \
tokens in an HttpOnly cookie, server-side sessions, roles with wildcard permissions, self-service and \
admin user management.\n\n\
Every `/api/v1` answer is enveloped: `{\"code\": 0, \"message\", \"data\"}` on success, \
`{\"code\": <status>, \"message\", \"data\": null}` on error (422 adds `details`). Every `/api/v1` route \
answers with and without a trailing slash.\n\n\
To try it here: register, log in, copy `data.token.access_token`, press **Authorize** and paste it. \
The refresh cookie is sent by the browser automatically to `/api/v1/auth/refresh` and `/api/v1/auth/logout`.\n\n\
Limits every route shares (README, Configuration): one client address has at most `MAX_IN_FLIGHT_PER_CLIENT` \
(128) requests in flight, beyond that 429 with `Retry-After`; a request body must arrive whole within \
`BODY_READ_TIMEOUT` (10 s) of its headers, else 408; JSON bodies are one UTF-8 object with nothing after it. \
Changing one's own username or email draws on `RATE_LIMIT_ACCOUNT_CHANGE` (10/5m per account and per \
client address).\n\n\
A new password (registration, a change, a reset, an admin's change) must be 8-128 characters and not one of the \
most common breached passwords (422 `password_too_common`, `PASSWORD_COMMON_CHECK`); with \
`PASSWORD_BREACH_CHECK=pwned` also not one the Pwned Passwords service lists (422 `password_breached`).\n\n\
Sign-in providers (`OAUTH_PROVIDERS`): the browser flow is authorize → provider → callback → \
`redirect_to?code=` → `POST /api/v1/auth/oauth/exchange`. Decisions this server makes where the contract is \
silent: `OAUTH_<ID>_NAME` (the button's name) and `OAUTH_<ID>_RESPONSE_MODE` (`query` or `form_post`; Apple \
uses form_post) are extra variables; `OAUTH_REDIRECT_URLS` defaults to this server's `/sign-in` page and \
console; the flow cookie is `oauth_flow`; the callback's error codes are listed on it; a link flow returns \
`?linked=<provider>`; a provider identity with no address at all is refused with 409 like an address \
someone holds; the last-way rule also holds for an admin's unlink.",
        license(name = "MIT"),
    ),
    paths(
        health::health, health::ready, health::root, crate::api::metrics::metrics,
        v1::auth::register, v1::auth::login, v1::auth::refresh, v1::auth::logout, v1::auth::logout_all,
        v1::user::me, v1::user::update_me, v1::user::delete_me, v1::user::my_sessions, v1::user::revoke_my_session,
        v1::admin::list_users, v1::admin::get_user, v1::admin::update_user, v1::admin::delete_user,
        v1::admin::user_sessions, v1::admin::revoke_user_sessions, v1::admin::revoke_user_session,
        v1::admin::list_roles,
        v1::security_events::own_events, v1::security_events::all_events,
        v1::email::forgot_password, v1::email::reset_password, v1::email::verify_email,
        v1::email::resend_verification, v1::admin::send_password_reset,
        v1::email_sign_in::start, v1::email_sign_in::verify,
        v1::oauth::providers, v1::oauth::authorize, v1::oauth::callback, v1::oauth::callback_form,
        v1::oauth::exchange, v1::oauth::id_token,
        v1::identities::my_identities, v1::identities::link, v1::identities::unlink,
        v1::identities::user_identities, v1::identities::unlink_user_identity,
        v1::passkeys::my_passkeys, v1::passkeys::register_start, v1::passkeys::register_finish,
        v1::passkeys::rename, v1::passkeys::remove, v1::passkeys::sign_in_start,
        v1::passkeys::sign_in_finish, v1::passkeys::user_passkeys, v1::passkeys::remove_user_passkey,
        v1::orgs::create, v1::orgs::my_orgs, v1::orgs::get_org, v1::orgs::update, v1::orgs::delete,
        v1::orgs::members, v1::orgs::set_role, v1::orgs::remove_member, v1::orgs::org_events,
        v1::orgs::active_org, v1::orgs::all_orgs, v1::orgs::any_org, v1::orgs::delete_any_org,
        v1::orgs::any_org_members, v1::invitations::any_org_pending,
        v1::invitations::invite, v1::invitations::pending, v1::invitations::revoke,
        v1::invitations::mine, v1::invitations::accept, v1::invitations::decline,
        v1::mfa::enrol, v1::mfa::confirm, v1::mfa::disable, v1::mfa::regenerate, v1::mfa::verify,
        v1::mfa::admin_reset, v1::admin::rotate_keys,
        well_known::jwks, well_known::openid_configuration,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, views::UserView, views::RoleView, views::SessionView, views::TokenView,
        views::LoginView, views::RefreshView, views::RevokedView, views::UserListView, views::PaginationView,
        views::EventView, views::EventListView, views::MfaChallengeView, views::IdentityView,
        envelope::Envelope<views::UserView>,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Register, log in, refresh, log out"),
        (name = "user", description = "The caller's own account and sessions"),
        (name = "mfa", description = "The caller's second factor (TOTP and recovery codes). A login of an account with one answers `mfa_required` with an `mfa_token`; `POST /api/v1/auth/mfa/verify` with a code completes it"),
        (name = "passkeys", description = "Passkeys (WebAuthn): register one from a signed-in session, sign in with one and no username. Relying party `WEBAUTHN_RP_ID` (default: the host of PUBLIC_URL), origins `WEBAUTHN_ORIGINS` (default: PUBLIC_URL's origin and CORS_ORIGINS)"),
        (name = "orgs", description = "Organizations: owners, admins and members. A non-member gets 404 for everything of an organization; a member without the right 403. `POST /api/v1/user/active-org` puts the acting organization (`org_id`, `org_role`) in the access token"),
        (name = "admin", description = "User management; needs the `admin:*` permission"),
        (name = "keys", description = "Token signing keys: with `JWT_ALG=EdDSA` other services verify access tokens offline from the JWKS; rotation for `*` holders"),
        (name = "health", description = "Liveness, readiness, service information"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The access token from login or refresh (15 minutes)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("METRICS_TOKEN, when the operator set one."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "refresh_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::api::cookies::REFRESH_COOKIE,
                "HttpOnly refresh token cookie set by login and refresh (path /api/v1/auth).",
            ))),
        );
    }
}
