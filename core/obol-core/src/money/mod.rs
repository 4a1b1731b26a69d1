//! Money: assets with a scale, exact `i128` minor units, checked arithmetic, decimal text.

mod iso4217;
mod minor_units;
mod registry;

pub use iso4217::{CRYPTO, ISO_4217};
pub use minor_units::{
    AMOUNT_PATTERN, MinorUnits, MinorUnitsList, NON_NEGATIVE_AMOUNT_PATTERN, NonNegativeMinorUnits,
    OptionalMinorUnits, OptionalNonNegativeMinorUnits, OptionalPositiveMinorUnits,
    POSITIVE_AMOUNT_PATTERN, PositiveMinorUnits,
};
pub use registry::AssetRegistry;

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An amount in minor units from its decimal string (`"1250"`), as APIs and bindings carry
/// amounts.
pub fn parse_integer_amount(text: &str) -> Result<i128> {
    text.trim().parse().map_err(|_| Error::InvalidAmount {
        reason: format!("{text:?} is not an integer amount in minor units"),
    })
}

/// The largest scale an asset may have: an `i128` holds 38 decimal digits.
pub const MAX_SCALE: u8 = 36;

/// An asset code: `USD`, `BTC`, or a token such as `USDC.ETH`. Upper-case letters, digits and
/// `.`, `_`, `-`; starts with a letter; at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AssetCode(String);

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for AssetCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AssetCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Z][A-Z0-9._-]{0,31}$",
            "examples": ["USD", "BTC", "USDC.ETH"],
        })
    }
}

impl AssetCode {
    /// Checks and wraps an asset code.
    pub fn new(code: impl Into<String>) -> Result<Self> {
        let code = code.into();
        let valid_chars = code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        let starts_with_letter = code.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        if code.is_empty() || code.len() > 32 || !valid_chars || !starts_with_letter {
            return Err(Error::InvalidAsset {
                reason: format!("{code:?} is not an asset code (A-Z, 0-9, . _ -, at most 32)"),
            });
        }
        Ok(AssetCode(code))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AssetCode {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        AssetCode::new(value)
    }
}

impl From<AssetCode> for String {
    fn from(value: AssetCode) -> Self {
        value.0
    }
}

impl fmt::Display for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An asset: its code and how many decimal places its minor unit has.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Asset {
    /// The asset code.
    pub code: AssetCode,
    /// Decimal places of the minor unit (USD 2, JPY 0, BTC 8, ETH 18).
    pub scale: u8,
}

impl Asset {
    /// A new asset definition; the scale must be at most [`MAX_SCALE`].
    pub fn new(code: &str, scale: u8) -> Result<Self> {
        if scale > MAX_SCALE {
            return Err(Error::InvalidAsset {
                reason: format!("scale {scale} is above the maximum {MAX_SCALE}"),
            });
        }
        Ok(Asset {
            code: AssetCode::new(code)?,
            scale,
        })
    }

    /// Reads a decimal string such as `"12.34"` or `"-0.5"` as minor units of this asset.
    pub fn parse_amount(&self, text: &str) -> Result<i128> {
        parse_minor_units(text, self)
    }

    /// Writes minor units as a decimal string with exactly `scale` fractional digits.
    pub fn format_amount(&self, minor: i128) -> String {
        format_minor_units(minor, self.scale)
    }
}

/// An exact amount of one asset, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents, satoshis, wei).
    pub minor: i128,
    /// The asset.
    pub asset: Asset,
}

impl Money {
    /// Money from minor units.
    pub fn from_minor(minor: i128, asset: Asset) -> Self {
        Money { minor, asset }
    }

    /// Reads `"12.34 USD"` using the registry to find the asset's scale.
    pub fn parse(text: &str, registry: &AssetRegistry) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidMoney {
            input: text.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = text.split_whitespace();
        let (Some(number), Some(code), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("expected \"<amount> <ASSET>\", e.g. \"12.34 USD\""));
        };
        let code = AssetCode::new(code).map_err(|_| invalid("bad asset code"))?;
        let asset = registry.get(&code)?;
        let minor = asset.parse_amount(number)?;
        Ok(Money { minor, asset })
    }

    /// Like [`Money::parse`] but refuses zero and negative amounts.
    pub fn parse_positive(text: &str, registry: &AssetRegistry) -> Result<Self> {
        let money = Money::parse(text, registry)?;
        if money.minor <= 0 {
            return Err(Error::InvalidAmount {
                reason: format!("{text:?} must be greater than zero"),
            });
        }
        Ok(money)
    }

    /// Adds two amounts of the same asset.
    pub fn checked_add(&self, other: &Money) -> Result<Money> {
        self.same_asset(other)?;
        let minor = self.minor.checked_add(other.minor).ok_or(Error::Overflow)?;
        Ok(Money::from_minor(minor, self.asset.clone()))
    }

    /// Subtracts an amount of the same asset.
    pub fn checked_sub(&self, other: &Money) -> Result<Money> {
        self.same_asset(other)?;
        let minor = self.minor.checked_sub(other.minor).ok_or(Error::Overflow)?;
        Ok(Money::from_minor(minor, self.asset.clone()))
    }

    /// Multiplies by an integer (quantity × unit price).
    pub fn checked_mul(&self, factor: i128) -> Result<Money> {
        let minor = self.minor.checked_mul(factor).ok_or(Error::Overflow)?;
        Ok(Money::from_minor(minor, self.asset.clone()))
    }

    /// The amount as a decimal in major units; fails past `Decimal`'s 96-bit range.
    pub fn to_decimal(&self) -> Result<Decimal> {
        Decimal::try_from_i128_with_scale(self.minor, u32::from(self.asset.scale))
            .map_err(|_| Error::Overflow)
    }

    /// Money from a decimal in major units, rounded to the asset's scale by `rounding`
    /// (the rule is explicit: FX conversions and fee percentages must say how they round).
    pub fn from_decimal(value: Decimal, asset: Asset, rounding: RoundingStrategy) -> Result<Self> {
        let scale = u32::from(asset.scale);
        let rounded = value.round_dp_with_strategy(scale, rounding);
        let mantissa = rounded.mantissa();
        let minor = rescale(mantissa, rounded.scale(), scale)?;
        Ok(Money { minor, asset })
    }

    fn same_asset(&self, other: &Money) -> Result<()> {
        if self.asset != other.asset {
            return Err(Error::AssetMismatch {
                account: String::new(),
                account_asset: self.asset.code.to_string(),
                entry_asset: other.asset.code.to_string(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.asset.format_amount(self.minor),
            self.asset.code
        )
    }
}

/// Brings a mantissa at `from` decimal places to `to` places (`to >= from` after rounding).
fn rescale(mantissa: i128, from: u32, to: u32) -> Result<i128> {
    if from > to {
        return Err(Error::Overflow);
    }
    let factor = 10i128.checked_pow(to - from).ok_or(Error::Overflow)?;
    mantissa.checked_mul(factor).ok_or(Error::Overflow)
}

fn parse_minor_units(text: &str, asset: &Asset) -> Result<i128> {
    let invalid = |reason: &str| Error::InvalidMoney {
        input: text.to_string(),
        reason: reason.to_string(),
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return Err(invalid("no digits"));
    }
    if digits.ends_with('.') || digits.starts_with('.') {
        return Err(invalid("a decimal point needs digits on both sides"));
    }
    if !whole
        .chars()
        .chain(fraction.chars())
        .all(|c| c.is_ascii_digit())
    {
        return Err(invalid("only digits and one decimal point are allowed"));
    }
    let scale = usize::from(asset.scale);
    if fraction.len() > scale {
        return Err(Error::TooManyDecimals {
            asset: asset.code.to_string(),
            scale: asset.scale,
        });
    }
    let mut minor: i128 = 0;
    let padded = fraction.chars().chain(std::iter::repeat('0')).take(scale);
    for c in whole.chars().chain(padded) {
        let digit = i128::from(c.to_digit(10).unwrap_or(0));
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(digit))
            .ok_or(Error::Overflow)?;
    }
    Ok(if negative { -minor } else { minor })
}

fn format_minor_units(minor: i128, scale: u8) -> String {
    let digits = minor.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let sign = if minor < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn registry() -> AssetRegistry {
        AssetRegistry::with_builtins()
    }

    #[test]
    fn iso_scales_are_right() {
        let reg = registry();
        for (code, scale) in [("JPY", 0), ("USD", 2), ("BHD", 3), ("CLF", 4), ("BTC", 8)] {
            assert_eq!(
                reg.get(&AssetCode::new(code).unwrap()).unwrap().scale,
                scale
            );
        }
        assert_eq!(reg.get(&AssetCode::new("ETH").unwrap()).unwrap().scale, 18);
        assert!(ISO_4217.len() > 150);
    }

    #[test]
    fn parses_and_formats_money() {
        let reg = registry();
        let m = Money::parse("12.34 USD", &reg).unwrap();
        assert_eq!(m.minor, 1234);
        assert_eq!(m.to_string(), "12.34 USD");
        assert_eq!(Money::parse("12 USD", &reg).unwrap().minor, 1200);
        assert_eq!(
            Money::parse("0.5 USD", &reg).unwrap().to_string(),
            "0.50 USD"
        );
        assert_eq!(
            Money::parse("-0.01 USD", &reg).unwrap().to_string(),
            "-0.01 USD"
        );
        assert_eq!(
            Money::parse("500 JPY", &reg).unwrap().to_string(),
            "500 JPY"
        );
        assert_eq!(Money::parse("1.234 BHD", &reg).unwrap().minor, 1234);
        let wei = Money::parse("1.000000000000000001 ETH", &reg).unwrap();
        assert_eq!(wei.minor, 1_000_000_000_000_000_001);
    }

    #[test]
    fn refuses_bad_money_with_clear_codes() {
        let reg = registry();
        let code = |s: &str| Money::parse(s, &reg).unwrap_err().code();
        assert_eq!(code("1.234 USD"), "too_many_decimals");
        assert_eq!(code("1.5 JPY"), "too_many_decimals");
        assert_eq!(code("12.34 XYZ"), "unknown_asset");
        assert_eq!(code("12.34"), "invalid_money");
        assert_eq!(code("1,00 USD"), "invalid_money");
        assert_eq!(code(". USD"), "invalid_money");
        assert_eq!(code("1. USD"), "invalid_money");
        assert_eq!(code("1e5 USD"), "invalid_money");
        assert_eq!(
            code("999999999999999999999999999999999999999999 USD"),
            "overflow"
        );
        let neg = Money::parse_positive("-1.00 USD", &reg).unwrap_err();
        assert_eq!(neg.code(), "invalid_amount");
        let zero = Money::parse_positive("0 USD", &reg).unwrap_err();
        assert_eq!(zero.code(), "invalid_amount");
    }

    #[test]
    fn arithmetic_is_checked() {
        let usd = Asset::new("USD", 2).unwrap();
        let max = Money::from_minor(i128::MAX, usd.clone());
        let one = Money::from_minor(1, usd.clone());
        assert_eq!(max.checked_add(&one).unwrap_err().code(), "overflow");
        let eur = Money::from_minor(1, Asset::new("EUR", 2).unwrap());
        assert_eq!(one.checked_add(&eur).unwrap_err().code(), "asset_mismatch");
        assert_eq!(one.checked_mul(3).unwrap().minor, 3);
    }

    #[test]
    fn decimal_conversion_rounds_by_the_given_rule() {
        let usd = Asset::new("USD", 2).unwrap();
        let value: Decimal = "10.005".parse().unwrap();
        let bankers =
            Money::from_decimal(value, usd.clone(), RoundingStrategy::MidpointNearestEven);
        assert_eq!(bankers.unwrap().minor, 1000);
        let up = Money::from_decimal(value, usd.clone(), RoundingStrategy::MidpointAwayFromZero);
        assert_eq!(up.unwrap().minor, 1001);
        let m = Money::from_minor(1234, usd);
        assert_eq!(m.to_decimal().unwrap().to_string(), "12.34");
    }

    #[test]
    fn custom_token_assets_register_once() {
        let mut reg = registry();
        reg.register(Asset::new("USDC.ETH", 6).unwrap()).unwrap();
        reg.register(Asset::new("USDC.ETH", 6).unwrap()).unwrap();
        let clash = reg
            .register(Asset::new("USDC.ETH", 2).unwrap())
            .unwrap_err();
        assert_eq!(clash.code(), "invalid_asset");
        assert_eq!(Money::parse("1.5 USDC.ETH", &reg).unwrap().minor, 1_500_000);
        assert_eq!(AssetCode::new("usd").unwrap_err().code(), "invalid_asset");
        assert_eq!(Asset::new("BIG", 37).unwrap_err().code(), "invalid_asset");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(minor in any::<i128>(), scale in 0u8..=MAX_SCALE) {
            let asset = Asset::new("TOK", scale).unwrap();
            let text = asset.format_amount(minor);
            prop_assert_eq!(asset.parse_amount(&text).unwrap(), minor);
        }
    }
}
