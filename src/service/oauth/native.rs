//! Native sign-in: an app that signed the person in with the provider's own SDK (Sign in with
//! Apple, Google Sign-In) sends the ID token it got. The token is checked as a web flow's is,
//! except that `aud` may be any of the app client ids configured, and its nonce is the app's
//! (hashed as the Apple and Google SDKs hash it). A token without a nonce is accepted only if
//! the app sends none: such a token can be replayed until it expires, which is why apps should
//! send one.

use super::{FlowError, accounts, flow};
use crate::context::AppContext;
use crate::domain::event::EventType;
use crate::domain::principal::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::service::audit::{self, NewEvent};
use crate::service::sessions::LoginResult;

pub async fn sign_in_with_id_token(
    ctx: &AppContext,
    provider_id: &str,
    id_token: &str,
    nonce: Option<&str>,
    client: &ClientInfo,
) -> AppResult<LoginResult> {
    let provider = ctx
        .providers
        .get(provider_id)
        .ok_or_else(|| AppError::NotFound("Unknown provider".into()))?;
    let user = async {
        let person = provider.verify_native(id_token, nonce).await?;
        accounts::account_for(ctx, provider_id, &person, client).await
    }
    .await;
    let user = match user {
        Ok(user) => user,
        Err(e) => {
            if matches!(e, FlowError::InvalidIdToken) {
                let failed = NewEvent::new(EventType::LoginFailed)
                    .from(client)
                    .method("provider")
                    .reason(e.code())
                    .public_id("provider", provider_id);
                audit::record(ctx, failed).await;
            }
            return Err(e.into());
        }
    };
    flow::sign_in(ctx, user, client).await
}
