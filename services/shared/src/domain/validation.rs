//! Input rules of identity, with the field named in every error. Names and e-mail addresses
//! follow the platform's rules (`tekup_runtime::validate`).

use tekup_runtime::problem::FieldError;
pub use tekup_runtime::validate::text as name;

/// A lower-cased, trimmed e-mail address of plausible shape.
pub fn email(value: &str, errors: &mut Vec<FieldError>) -> String {
    tekup_runtime::validate::email("email", value, errors)
}

/// Passwords of 12 to 128 characters.
pub fn password(value: &str, errors: &mut Vec<FieldError>) {
    let length = value.chars().count();
    if !(12..=128).contains(&length) {
        errors.push(FieldError::new("password", "must be 12 to 128 characters"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_and_blank_names_are_named() {
        let mut errors = Vec::new();
        password("kort", &mut errors);
        name("first_name", "  ", 100, &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["password", "first_name"]);
    }
}
