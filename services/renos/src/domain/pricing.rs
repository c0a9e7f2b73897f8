//! Price calculation: a pure function of its parameters and the logic version, with every
//! step's partial result kept, so a stored calculation explains itself and re-runs to the same
//! figures. Money in øre; VAT 25 % on top; the labour share (base work and labour extras, after
//! the discount) is what a private customer may claim servicefradrag on.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The logic this module implements. A change of rules gets a new version; stored calculations
/// name theirs.
pub const LOGIC_VERSION: &str = "2026-11.1";
pub const VAT_PERCENT: i64 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pricing {
    /// Unit price per m².
    PerM2,
    /// Unit price per cleaner-hour.
    Hourly,
    /// Unit price per visit.
    Fixed,
}

impl Pricing {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "per_m2" => Some(Self::PerM2),
            "hourly" => Some(Self::Hourly),
            "fixed" => Some(Self::Fixed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerM2 => "per_m2",
            Self::Hourly => "hourly",
            Self::Fixed => "fixed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Once,
    Weekly,
    Biweekly,
    Monthly,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Once => "once",
            Self::Weekly => "weekly",
            Self::Biweekly => "biweekly",
            Self::Monthly => "monthly",
        }
    }

    /// Discount for a recurring plan, in percent.
    pub fn discount_percent(self) -> i64 {
        match self {
            Self::Once => 0,
            Self::Weekly => 15,
            Self::Biweekly => 10,
            Self::Monthly => 5,
        }
    }
}

/// An extra of the service, as the catalogue lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Extra {
    pub code: String,
    pub name: String,
    pub price_ore: i64,
    /// Work (counts towards servicefradrag) rather than materials.
    #[serde(default = "yes")]
    pub labour: bool,
}

fn yes() -> bool {
    true
}

/// Everything a calculation depends on; stored with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    pub service_code: String,
    pub pricing: Pricing,
    pub unit_price_ore: i64,
    pub area_m2: Option<i64>,
    pub minutes: Option<i64>,
    pub cleaners: Option<i64>,
    pub frequency: Frequency,
    pub extras: Vec<Extra>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    pub step: String,
    /// How the value came about, in words and numbers.
    pub explanation: String,
    pub value_ore: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calculation {
    pub steps: Vec<Step>,
    pub net_ore: i64,
    pub vat_ore: i64,
    pub total_ore: i64,
    pub labour_ore: i64,
}

/// `value × numerator / denominator`, rounded half away from zero, in integers.
fn share(value: i64, numerator: i64, denominator: i64) -> i64 {
    let n = i128::from(value) * i128::from(numerator);
    let d = i128::from(denominator);
    let rounded = (2 * n + d.signum() * d) / (2 * d);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// Runs the calculation; an error names the parameter that is missing or wrong.
pub fn calculate(p: &Parameters) -> Result<Calculation, (&'static str, String)> {
    let mut steps = Vec::new();
    let base = match p.pricing {
        Pricing::PerM2 => {
            let area = p
                .area_m2
                .ok_or(("area_m2", "is required for per-m² pricing".to_owned()))?;
            if !(1..=100_000).contains(&area) {
                return Err(("area_m2", "must be 1 to 100000 m²".into()));
            }
            steps.push(Step {
                step: "base".into(),
                explanation: format!("{area} m² × {} øre/m²", p.unit_price_ore),
                value_ore: area * p.unit_price_ore,
            });
            area * p.unit_price_ore
        }
        Pricing::Hourly => {
            let minutes = p
                .minutes
                .ok_or(("minutes", "is required for hourly pricing".to_owned()))?;
            let cleaners = p.cleaners.unwrap_or(1);
            if !(15..=24 * 60).contains(&minutes) {
                return Err(("minutes", "must be 15 to 1440".into()));
            }
            if !(1..=50).contains(&cleaners) {
                return Err(("cleaners", "must be 1 to 50".into()));
            }
            let value = share(p.unit_price_ore, minutes * cleaners, 60);
            steps.push(Step {
                step: "base".into(),
                explanation: format!(
                    "{minutes} min × {cleaners} cleaner(s) × {} øre/hour",
                    p.unit_price_ore
                ),
                value_ore: value,
            });
            value
        }
        Pricing::Fixed => {
            steps.push(Step {
                step: "base".into(),
                explanation: format!("fixed price {} øre", p.unit_price_ore),
                value_ore: p.unit_price_ore,
            });
            p.unit_price_ore
        }
    };
    let extras: i64 = p.extras.iter().map(|e| e.price_ore).sum();
    let labour_extras: i64 = p
        .extras
        .iter()
        .filter(|e| e.labour)
        .map(|e| e.price_ore)
        .sum();
    steps.push(Step {
        step: "extras".into(),
        explanation: if p.extras.is_empty() {
            "none".into()
        } else {
            p.extras
                .iter()
                .map(|e| format!("{} {} øre", e.name, e.price_ore))
                .collect::<Vec<_>>()
                .join(", ")
        },
        value_ore: extras,
    });
    let subtotal = base + extras;
    let percent = p.frequency.discount_percent();
    let discount = share(subtotal, percent, 100);
    steps.push(Step {
        step: "frequency_discount".into(),
        explanation: format!("{percent} % for {:?} of {subtotal} øre", p.frequency).to_lowercase(),
        value_ore: -discount,
    });
    let net = subtotal - discount;
    steps.push(Step {
        step: "net".into(),
        explanation: "subtotal minus discount, excl. VAT".into(),
        value_ore: net,
    });
    let vat = share(net, VAT_PERCENT, 100);
    steps.push(Step {
        step: "vat".into(),
        explanation: format!("{VAT_PERCENT} % of {net} øre"),
        value_ore: vat,
    });
    let labour = if subtotal == 0 {
        0
    } else {
        share(base + labour_extras, net, subtotal)
    };
    steps.push(Step {
        step: "labour_share".into(),
        explanation: "base work and labour extras after the discount (servicefradrag), excl. VAT"
            .into(),
        value_ore: labour,
    });
    steps.push(Step {
        step: "total".into(),
        explanation: "net plus VAT".into(),
        value_ore: net + vat,
    });
    Ok(Calculation {
        steps,
        net_ore: net,
        vat_ore: vat,
        total_ore: net + vat,
        labour_ore: labour,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Parameters {
        Parameters {
            service_code: "office".into(),
            pricing: Pricing::PerM2,
            unit_price_ore: 1_250,
            area_m2: Some(120),
            minutes: None,
            cleaners: None,
            frequency: Frequency::Biweekly,
            extras: vec![
                Extra {
                    code: "windows".into(),
                    name: "Vinduer".into(),
                    price_ore: 30_000,
                    labour: true,
                },
                Extra {
                    code: "soap".into(),
                    name: "Sæbe".into(),
                    price_ore: 5_000,
                    labour: false,
                },
            ],
        }
    }

    #[test]
    fn every_step_is_kept_and_the_figures_add_up() {
        let c = calculate(&params()).unwrap();
        // 120 × 12.50 = 1500 kr; + 300 + 50 = 1850 kr; −10 % = 1665 kr; VAT 416.25 kr.
        assert_eq!(c.net_ore, 166_500);
        assert_eq!(c.vat_ore, 41_625);
        assert_eq!(c.total_ore, 208_125);
        // Labour: (1500 + 300) × 1665/1850 = 1620 kr.
        assert_eq!(c.labour_ore, 162_000);
        let names: Vec<_> = c.steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(
            names,
            [
                "base",
                "extras",
                "frequency_discount",
                "net",
                "vat",
                "labour_share",
                "total"
            ]
        );
        assert_eq!(
            calculate(&params()).unwrap(),
            c,
            "re-runs to the same figures"
        );
    }

    #[test]
    fn hourly_rounds_and_missing_inputs_are_named() {
        let mut p = params();
        p.pricing = Pricing::Hourly;
        p.unit_price_ore = 39_900;
        p.minutes = Some(95);
        p.cleaners = Some(2);
        p.extras.clear();
        p.frequency = Frequency::Once;
        let c = calculate(&p).unwrap();
        // 399 kr/h × 95 min × 2 = 1263.50 kr.
        assert_eq!(c.net_ore, 126_350);
        p.minutes = None;
        assert_eq!(calculate(&p).unwrap_err().0, "minutes");
        let mut p = params();
        p.area_m2 = Some(-5);
        assert_eq!(calculate(&p).unwrap_err().0, "area_m2");
    }
}
