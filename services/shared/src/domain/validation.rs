//! Input rules with the field named in every error.

use tekup_runtime::problem::FieldError;

/// A trimmed name of 1..=`max` characters.
pub fn name(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > max {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    trimmed.to_owned()
}

/// A lower-cased, trimmed e-mail address of plausible shape.
pub fn email(value: &str, errors: &mut Vec<FieldError>) -> String {
    let email = value.trim().to_lowercase();
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    if !plausible {
        errors.push(FieldError::new("email", "must be an e-mail address"));
    }
    email
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
    fn emails_are_normalised_and_checked() {
        let mut errors = Vec::new();
        assert_eq!(
            email("  Mette@Rendetalje.DK ", &mut errors),
            "mette@rendetalje.dk"
        );
        assert!(errors.is_empty());
        email("mette", &mut errors);
        email("a b@c.dk", &mut errors);
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn short_passwords_and_blank_names_are_named() {
        let mut errors = Vec::new();
        password("kort", &mut errors);
        name("first_name", "  ", 100, &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["password", "first_name"]);
    }
}
