use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Danish CVR number: 8 digits, the first not 0, whose digits weighted 2,7,6,5,4,3,2,1 sum to
/// a multiple of 11. Accepted with an optional `DK` prefix and spaces (`DK 13 58 56 28`), kept
/// as the 8 digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cvr([u8; 8]);

const WEIGHTS: [u32; 8] = [2, 7, 6, 5, 4, 3, 2, 1];

/// Why a text is not a CVR number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvrError {
    #[error("must be 8 digits (got {0})")]
    Length(usize),
    #[error("must contain only digits")]
    NotDigits,
    #[error("cannot start with 0")]
    LeadingZero,
    #[error("fails the modulus-11 check")]
    Checksum,
}

impl Cvr {
    pub fn parse(text: &str) -> Result<Self, CvrError> {
        let trimmed = text.trim();
        let without_prefix = trimmed
            .strip_prefix("DK")
            .or_else(|| trimmed.strip_prefix("dk"))
            .unwrap_or(trimmed);
        let compact: Vec<char> = without_prefix
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if compact.iter().any(|c| !c.is_ascii_digit()) {
            return Err(CvrError::NotDigits);
        }
        let digits: [u8; 8] = compact
            .iter()
            .map(|c| *c as u8)
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| CvrError::Length(compact.len()))?;
        if digits[0] == b'0' {
            return Err(CvrError::LeadingZero);
        }
        let sum: u32 = digits
            .iter()
            .zip(WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        if !sum.is_multiple_of(11) {
            return Err(CvrError::Checksum);
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl FromStr for Cvr {
    type Err = CvrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Cvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Cvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cvr({})", self.as_str())
    }
}

impl Serialize for Cvr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Cvr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Cvr::parse(&text).map_err(|err| serde::de::Error::custom(format!("invalid CVR: {err}")))
    }
}

impl utoipa::PartialSchema for Cvr {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[1-9][0-9]{7}$"))
            .description(Some(
                "Danish CVR number: 8 digits passing the modulus-11 check",
            ))
            .examples([serde_json_example()])
            .into()
    }
}

impl utoipa::ToSchema for Cvr {}

fn serde_json_example() -> &'static str {
    "13585628"
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn real_company_numbers_are_accepted() {
        // Checksum-valid numbers of real Danish companies.
        for cvr in ["13585628", "10150817", "24256790", "61126228", "25313763"] {
            assert_eq!(
                Cvr::parse(cvr).map(|c| c.to_string()),
                Ok(cvr.to_owned()),
                "{cvr}"
            );
        }
    }

    #[test]
    fn prefix_and_spacing_are_tolerated() {
        assert_eq!(Cvr::parse("DK 13 58 56 28").unwrap().as_str(), "13585628");
        assert_eq!(Cvr::parse("dk13585628").unwrap().as_str(), "13585628");
    }

    #[test]
    fn each_kind_of_bad_input_is_named() {
        assert_eq!(Cvr::parse("1358562"), Err(CvrError::Length(7)));
        assert_eq!(Cvr::parse("135856289"), Err(CvrError::Length(9)));
        assert_eq!(Cvr::parse("1358562a"), Err(CvrError::NotDigits));
        assert_eq!(Cvr::parse("03585628"), Err(CvrError::LeadingZero));
        assert_eq!(Cvr::parse("13585629"), Err(CvrError::Checksum));
        assert_eq!(Cvr::parse(""), Err(CvrError::Length(0)));
    }

    fn weighted(digits: &[u8; 8]) -> u32 {
        digits
            .iter()
            .zip(WEIGHTS)
            .map(|(d, w)| u32::from(*d) * w)
            .sum()
    }

    proptest! {
        #[test]
        fn parsing_agrees_with_the_checksum(digits in proptest::array::uniform8(0u8..10)) {
            let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let valid = digits[0] != 0 && weighted(&digits).is_multiple_of(11);
            prop_assert_eq!(Cvr::parse(&text).is_ok(), valid);
        }

        #[test]
        fn changing_one_digit_breaks_a_valid_number(
            digits in proptest::array::uniform8(0u8..10),
            position in 0usize..8,
            delta in 1u8..10,
        ) {
            let mut changed = digits;
            changed[position] = (digits[position] + delta) % 10;
            // Weights are all coprime to 11 and below it, so a single-digit change always
            // alters the sum modulo 11.
            if digits[0] != 0 && weighted(&digits).is_multiple_of(11) {
                prop_assert_ne!(weighted(&changed) % 11, 0);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,20}") {
            let _ = Cvr::parse(&text);
        }
    }
}
