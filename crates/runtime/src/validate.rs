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

/// A trimmed phone number as the tables keep it (their check is `^\+?[0-9 ]{8,20}$`): 8 to 15
/// digits with spaces between, `+` only first.
pub fn phone(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    let phone = value.trim().to_owned();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let rest = phone.strip_prefix('+').unwrap_or(&phone);
    if !(8..=15).contains(&digits)
        || phone.len() > 20
        || !rest.chars().all(|c| c.is_ascii_digit() || c == ' ')
    {
        errors.push(FieldError::new(
            field,
            "must be 8 to 15 digits, optionally +country code",
        ));
    }
    phone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_refused_as_input_before_the_table_refuses_them() {
        let refused = |p: &str| {
            let mut errors = Vec::new();
            phone("phone", p, &mut errors);
            !errors.is_empty()
        };
        for good in [
            "+45 12 34 56 78",
            "12345678",
            "0045 1234 5678",
            " 87 65 43 21 ",
        ] {
            assert!(!refused(good), "{good}");
        }
        for bad in [
            "12+34 5678 9",
            "1234567",
            "+45 1234 5678 9012 3456",
            "12-34-56-78",
            "++4512345678",
        ] {
            assert!(refused(bad), "{bad}");
        }
    }

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
