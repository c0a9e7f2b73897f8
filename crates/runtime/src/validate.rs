//! Field rules every service applies to its input, each naming the field it refuses, so that a
//! request with several faults hears of all of them at once (collect, then [`check`]).

use tekup_types::Cvr;

use crate::Problem;
use crate::problem::FieldError;

/// A CVR number (8 digits, mod-11 check, `DK` prefix and spaces allowed), or a 422 naming
/// `field`.
pub fn cvr(field: &str, text: &str) -> Result<Cvr, Problem> {
    Cvr::parse(text)
        .map_err(|err| Problem::validation(vec![FieldError::new(field, err.to_string())]))
}

/// A CVR number among other fields: `None`, with the fault collected, when it is invalid.
pub fn cvr_in(field: &str, text: &str, errors: &mut Vec<FieldError>) -> Option<Cvr> {
    Cvr::parse(text)
        .map_err(|err| errors.push(FieldError::new(field, err.to_string())))
        .ok()
}

/// Fails with 422 naming every invalid field, when there is one.
pub fn check(errors: Vec<FieldError>) -> Result<(), Problem> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::validation(errors))
    }
}

/// A trimmed text of 1..=`max` characters.
pub fn text(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
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
pub fn email(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    let email = value.trim().to_lowercase();
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    if !plausible {
        errors.push(FieldError::new(field, "must be an e-mail address"));
    }
    email
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        let mut errors = Vec::new();
        assert_eq!(
            email("email", "  Mette@Rendetalje.DK ", &mut errors),
            "mette@rendetalje.dk"
        );
        assert!(errors.is_empty());
        email("email", "mette", &mut errors);
        email("to", "a b@c.dk", &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "to"]);
    }

    #[test]
    fn every_fault_is_collected_before_refusing() {
        let mut errors = Vec::new();
        assert_eq!(text("name", "  Rengøring  ", 100, &mut errors), "Rengøring");
        text("title", " ", 100, &mut errors);
        text("city", &"x".repeat(101), 100, &mut errors);
        let problem = check(errors).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors.len(), 2);
    }
}
