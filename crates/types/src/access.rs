use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's role in their organization. Admins manage users, companies and grants, and reach
/// every company of the organization; analysts and viewers reach only the companies granted to
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Analyst,
    Viewer,
}

/// What a grant on one company allows, each level including the ones below it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    Read,
    Write,
    Admin,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(format!(
                        "`{other}` is not one of {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum!(Role { Admin => "admin", Analyst => "analyst", Viewer => "viewer" });
text_enum!(AccessLevel { Read => "read", Write => "write", Admin => "admin" });

impl AccessLevel {
    /// Whether this grant allows what `needed` asks for.
    pub fn allows(self, needed: AccessLevel) -> bool {
        self >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_include_the_ones_below() {
        assert!(AccessLevel::Admin.allows(AccessLevel::Write));
        assert!(AccessLevel::Write.allows(AccessLevel::Read));
        assert!(!AccessLevel::Read.allows(AccessLevel::Write));
    }

    #[test]
    fn names_round_trip_and_strangers_are_named() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        assert_eq!(
            "owner".parse::<Role>(),
            Err("`owner` is not one of admin, analyst, viewer".into())
        );
    }
}
