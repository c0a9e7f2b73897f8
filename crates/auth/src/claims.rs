use serde::{Deserialize, Serialize};
use tekup_types::Role;
use uuid::Uuid;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The user's organization.
    pub org: Uuid,
    /// The user's role in it.
    pub role: Role,
    pub iss: String,
    pub aud: String,
    /// Issued at / expires at, seconds since the epoch.
    pub iat: i64,
    pub exp: i64,
    /// Token id.
    pub jti: Uuid,
}
