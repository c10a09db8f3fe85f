//! Durations, rate limits, quotas and key expiry exactly as written (SPEC §1.1), and their exact
//! conversion to the numbers Tyk stores.
//!
//! A duration is kept as the decimal the user wrote (`1.5s`, `1500ms` and `0.3333s` are exact),
//! never rounded: Tyk's `per` is a float and gets the nearest float to that decimal, while fields
//! Tyk holds as integers (quota renewal, key expiry) accept only whole seconds, which validation
//! enforces (`check`). The reverse conversion, from a float Tyk holds to a duration, is exact
//! too, so `import` writes manifests that plan back to the very same policy values. This module
//! parses and converts; it does not place errors in files.

use std::cmp::Ordering;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// The largest number of requests a limit may name: 2^53, the largest integer every JSON reader
/// holds exactly.
pub const MAX_REQUESTS: u64 = 1 << 53;

/// The longest duration: 100 years, in seconds.
const MAX_SECONDS: u128 = 100 * 365 * 86_400;

/// The most significant digits a duration may have; 30 is far beyond any float's 17.
const MAX_DIGITS: usize = 30;

/// A duration written as a decimal number and a unit: `500ms`, `1.5s`, `30s`, `15m`, `12h`, `30d`.
///
/// Held exactly as `mantissa × 10^exponent` seconds, normalised (the mantissa has no trailing
/// zero), so equal durations compare equal however they were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration {
    mantissa: u128,
    exponent: i16,
}

/// The pattern every [`Duration`] matches (also used in the JSON Schema).
pub const DURATION_PATTERN: &str = "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$";

/// Why a text is not a [`Duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// It is not a number followed by a unit.
    Syntax,
    /// It is longer than 100 years.
    TooLong,
    /// It has more significant digits than any use needs.
    TooManyDigits,
}

impl DurationError {
    /// The message for the text `s`, lowercase, without trailing period.
    pub fn message(self, s: &str) -> String {
        match self {
            DurationError::Syntax => format!(
                "{s:?} is not a duration: write a number and a unit, e.g. 500ms, 1.5s, 30s, 15m, 12h, 30d"
            ),
            DurationError::TooLong => format!("duration {s:?} is too long (at most 100 years)"),
            DurationError::TooManyDigits => format!(
                "duration {s:?} has more than {MAX_DIGITS} significant digits"
            ),
        }
    }
}

fn pow10(n: u32) -> Option<u128> {
    10u128.checked_pow(n)
}

impl Duration {
    /// Zero seconds.
    pub const ZERO: Duration = Duration {
        mantissa: 0,
        exponent: 0,
    };

    fn new(mut mantissa: u128, mut exponent: i32) -> Option<Duration> {
        if mantissa == 0 {
            return Some(Duration::ZERO);
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        let exponent = i16::try_from(exponent).ok()?;
        Some(Duration { mantissa, exponent })
    }

    /// Parses `N(ms|s|m|h|d)` where N is a decimal number such as `30` or `1.5`.
    pub fn parse(s: &str) -> Result<Self, String> {
        Duration::parse_exact(s).map_err(|e| e.message(s))
    }

    /// Parses like [`Duration::parse`], saying why a text is not a duration.
    pub fn parse_exact(s: &str) -> Result<Self, DurationError> {
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let (whole, fraction) = match number.split_once('.') {
            Some((w, f)) => (w, f),
            None => (number, ""),
        };
        let digits_only = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits_only(fraction)
            || (number.contains('.') && fraction.is_empty())
        {
            return Err(DurationError::Syntax);
        }
        let (multiplier, shift): (u128, i32) = match unit {
            "ms" => (1, -3),
            "s" => (1, 0),
            "m" => (60, 0),
            "h" => (3_600, 0),
            "d" => (86_400, 0),
            _ => return Err(DurationError::Syntax),
        };
        let digits = format!("{whole}{fraction}");
        let significant = digits.trim_start_matches('0');
        let kept = significant.trim_end_matches('0');
        if kept.len() > MAX_DIGITS {
            return Err(DurationError::TooManyDigits);
        }
        let mantissa: u128 = if kept.is_empty() {
            0
        } else {
            kept.parse().map_err(|_| DurationError::Syntax)?
        };
        let trailing = (significant.len() - kept.len()) as i32;
        let exponent = shift - fraction.len() as i32 + trailing;
        let d = mantissa
            .checked_mul(multiplier)
            .and_then(|m| Duration::new(m, exponent))
            .ok_or(DurationError::TooLong)?;
        if d.cmp_seconds(MAX_SECONDS) == Ordering::Greater {
            return Err(DurationError::TooLong);
        }
        Ok(d)
    }

    /// This duration compared with a whole number of seconds.
    fn cmp_seconds(&self, seconds: u128) -> Ordering {
        if self.exponent >= 0 {
            match pow10(self.exponent as u32).and_then(|p| self.mantissa.checked_mul(p)) {
                Some(v) => v.cmp(&seconds),
                None => Ordering::Greater,
            }
        } else {
            // Normalised with a negative exponent: there is a fractional part.
            let whole = pow10(self.exponent.unsigned_abs() as u32).map_or(0, |p| self.mantissa / p);
            if whole >= seconds {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }

    /// The duration of a float number of seconds as Tyk holds it (`per`), exactly: the shortest
    /// decimal that reads back as the same float. `None` for values a manifest cannot hold
    /// (negative, not finite, longer than 100 years).
    pub fn from_secs_f64(seconds: f64) -> Option<Duration> {
        if !seconds.is_finite() || seconds < 0.0 {
            return None;
        }
        // Rust prints the shortest decimal that parses back to the same float, without an
        // exponent, e.g. `0.30000000000000004`.
        let text = format!("{seconds}");
        let d = Duration::parse_exact(&format!("{text}s")).ok()?;
        (d.as_secs_f64() == seconds).then_some(d)
    }

    /// From a std duration (nanosecond precision).
    pub fn from_std(d: std::time::Duration) -> Self {
        Duration::new(d.as_nanos(), -9).unwrap_or(Duration::ZERO)
    }

    /// The std duration, to the nanosecond (a non-zero duration shorter than a nanosecond is one
    /// nanosecond, never zero).
    pub fn as_std(&self) -> std::time::Duration {
        let nanos = if self.exponent >= -9 {
            pow10((self.exponent + 9) as u32)
                .and_then(|p| self.mantissa.checked_mul(p))
                .unwrap_or(u128::MAX)
        } else {
            pow10((-9 - self.exponent as i32) as u32)
                .map_or(1, |p| self.mantissa.div_ceil(p))
                .max(1)
        };
        std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The nearest float to this duration in seconds, for Tyk's float fields (`per`). Exact for
    /// every duration [`Duration::from_secs_f64`] returns.
    pub fn as_secs_f64(&self) -> f64 {
        if self.exponent == 0 && self.mantissa < 1 << 53 {
            return self.mantissa as f64;
        }
        // Rust's float parsing rounds a decimal correctly, which plain arithmetic on the parts
        // would not.
        format!("{}e{}", self.mantissa, self.exponent)
            .parse()
            .unwrap_or(f64::MAX)
    }

    /// The number of seconds when it is whole, for Tyk's integer fields; `None` for `1500ms`.
    pub fn whole_seconds(&self) -> Option<u64> {
        if self.mantissa == 0 {
            return Some(0);
        }
        if self.exponent < 0 {
            return None;
        }
        pow10(self.exponent as u32)
            .and_then(|p| self.mantissa.checked_mul(p))
            .and_then(|v| u64::try_from(v).ok())
    }

    /// True for zero seconds.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    fn whole_millis(&self) -> Option<u128> {
        if self.exponent < -3 {
            return None;
        }
        pow10((self.exponent + 3) as u32).and_then(|p| self.mantissa.checked_mul(p))
    }
}

impl TryFrom<String> for Duration {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Duration::parse(&s)
    }
}
impl From<Duration> for String {
    fn from(d: Duration) -> String {
        d.to_string()
    }
}
impl fmt::Display for Duration {
    /// Prints the largest unit that divides the duration exactly (`90s`, `1m`, `1500ms`), and
    /// decimal seconds for what is not a whole number of milliseconds (`0.3333s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa == 0 {
            return f.write_str("0s");
        }
        if let Some(ms) = self.whole_millis() {
            for (unit, per) in [
                ("d", 86_400_000),
                ("h", 3_600_000),
                ("m", 60_000),
                ("s", 1_000),
            ] {
                if ms % per == 0 {
                    return write!(f, "{}{unit}", ms / per);
                }
            }
            return write!(f, "{ms}ms");
        }
        // Here the exponent is below -3: the digits and a decimal point inside or before them.
        let digits = self.mantissa.to_string();
        let point = self.exponent.unsigned_abs() as usize;
        if digits.len() > point {
            let (whole, fraction) = digits.split_at(digits.len() - point);
            write!(f, "{whole}.{fraction}s")
        } else {
            write!(f, "0.{}{digits}s", "0".repeat(point - digits.len()))
        }
    }
}
impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "a duration: a number and a unit, e.g. 500ms, 1.5s, 30s, 15m, 12h, 30d"
        })
    }
}

/// A quota, or how often a plan may be requested: `{requests: N, per: DURATION}` with a whole
/// number of requests, or the string `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// No limit.
    Unlimited,
    /// `requests` per `per`.
    Every {
        /// How many requests: 1 to 2^53.
        requests: u64,
        /// In what period.
        per: Duration,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitObject<N> {
    requests: N,
    per: Duration,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLimit<N> {
    Word(String),
    Object(LimitObject<N>),
}

fn deserialize_limit<'de, N: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<(N, Duration)>, D::Error> {
    match RawLimit::<N>::deserialize(d).map_err(|_| {
        serde::de::Error::custom("expected `unlimited` or {requests: N, per: DURATION}")
    })? {
        RawLimit::Word(w) if w == "unlimited" => Ok(None),
        RawLimit::Word(w) => Err(serde::de::Error::custom(format!(
            "{w:?} is not a limit: write `unlimited` or {{requests: N, per: DURATION}}"
        ))),
        RawLimit::Object(o) => Ok(Some((o.requests, o.per))),
    }
}

impl Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Limit::Unlimited => s.serialize_str("unlimited"),
            Limit::Every { requests, per } => LimitObject { requests, per }.serialize(s),
        }
    }
}
impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match deserialize_limit::<u64, D>(d)? {
            None => Limit::Unlimited,
            Some((requests, per)) => Limit::Every { requests, per },
        })
    }
}
impl JsonSchema for Limit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Limit".into()
    }
    fn json_schema(gen: &mut SchemaGenerator) -> Schema {
        let per = gen.subschema_for::<Duration>();
        schemars::json_schema!({
            "description": "`unlimited` or {requests: N, per: DURATION} with N a whole number from 1 to 2^53",
            "oneOf": [
                { "type": "string", "const": "unlimited" },
                {
                    "type": "object",
                    "properties": {
                        "requests": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_REQUESTS,
                            "description": "a whole number of requests, from 1 to 2^53"
                        },
                        "per": per
                    },
                    "required": ["requests", "per"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A rate limit: `{requests: N, per: DURATION}` where N may be fractional (Tyk's `rate` is a
/// float: 2.5 requests per 7 seconds is a rate Tyk holds), or the string `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateLimit {
    /// No limit.
    Unlimited,
    /// `requests` per `per`.
    Every {
        /// How many requests: more than 0, at most 2^53.
        requests: f64,
        /// In what period.
        per: Duration,
    },
}

/// A float as JSON shows it best: whole numbers as integers (`10`, never `10.0`), the rest as
/// the float itself (JSON text of a float reads back as the same float). The bound for integers
/// is the one `reconcile::docs::normalize` compares with, so a value sent and read back from a
/// Dashboard compares equal.
pub fn float_json(x: f64) -> serde_json::Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        serde_json::Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, Into::into)
    }
}

impl Serialize for RateLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            RateLimit::Unlimited => s.serialize_str("unlimited"),
            RateLimit::Every { requests, per } => LimitObject {
                requests: float_json(requests),
                per,
            }
            .serialize(s),
        }
    }
}
impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match deserialize_limit::<f64, D>(d)? {
            None => RateLimit::Unlimited,
            Some((requests, per)) => RateLimit::Every { requests, per },
        })
    }
}
impl JsonSchema for RateLimit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RateLimit".into()
    }
    fn json_schema(gen: &mut SchemaGenerator) -> Schema {
        let per = gen.subschema_for::<Duration>();
        schemars::json_schema!({
            "description": "`unlimited` or {requests: N, per: DURATION} with N a number above 0 (fractions allowed, e.g. 2.5) and at most 2^53",
            "oneOf": [
                { "type": "string", "const": "unlimited" },
                {
                    "type": "object",
                    "properties": {
                        "requests": {
                            "type": "number",
                            "exclusiveMinimum": 0,
                            "maximum": MAX_REQUESTS,
                            "description": "a number of requests above 0 and at most 2^53; fractions allowed"
                        },
                        "per": per
                    },
                    "required": ["requests", "per"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// Key expiry: a duration or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyExpiry {
    /// Keys never expire.
    Never,
    /// Keys expire this long after creation.
    After(Duration),
}

/// The pattern of a [`KeyExpiry`].
pub const KEY_EXPIRY_PATTERN: &str = "^(never|[0-9]+(\\.[0-9]+)?(ms|s|m|h|d))$";

impl KeyExpiry {
    /// Parses `never` or a duration.
    pub fn parse_exact(s: &str) -> Result<Self, DurationError> {
        if s == "never" {
            Ok(KeyExpiry::Never)
        } else {
            Duration::parse_exact(s).map(KeyExpiry::After)
        }
    }

    /// Seconds for Tyk's `key_expires_in` (0 = never). Validation admits only whole seconds;
    /// anything else would be rounded up here, so that a key never lives shorter than written.
    pub fn as_tyk_seconds(&self) -> i64 {
        match self {
            KeyExpiry::Never => 0,
            KeyExpiry::After(d) => d
                .whole_seconds()
                .unwrap_or_else(|| d.as_std().as_secs() + 1)
                .min(i64::MAX as u64) as i64,
        }
    }
}
impl Serialize for KeyExpiry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KeyExpiry::Never => s.serialize_str("never"),
            KeyExpiry::After(d) => s.serialize_str(&d.to_string()),
        }
    }
}
impl<'de> Deserialize<'de> for KeyExpiry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyExpiry::parse_exact(&s).map_err(|e| serde::de::Error::custom(e.message(&s)))
    }
}
impl JsonSchema for KeyExpiry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KeyExpiry".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": KEY_EXPIRY_PATTERN,
            "description": "a whole number of seconds written as a duration, such as 30d, or `never`"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        Duration::parse(s).unwrap()
    }

    #[test]
    fn durations_are_exact_decimals() {
        assert_eq!(d("1500ms"), d("1.5s"));
        assert_eq!(d("90s"), d("1.5m"));
        assert_eq!(d("0.5m").whole_seconds(), Some(30));
        assert_eq!(d("1500ms").whole_seconds(), None);
        assert_eq!(d("1500ms").as_secs_f64(), 1.5);
        assert_eq!(d("0.3333s").as_secs_f64(), 0.3333);
        assert_eq!(d("333.3ms").as_secs_f64(), 0.3333);
        assert_eq!(d("30d").whole_seconds(), Some(2_592_000));
        assert_eq!(d("0042s").whole_seconds(), Some(42));
        assert_eq!(d("1.50s").to_string(), "1500ms");
        assert_eq!(d("0.3333s").to_string(), "0.3333s");
        assert_eq!(d("60000ms").to_string(), "1m");
        assert_eq!(d("0s").to_string(), "0s");
        assert_eq!(d("0.000s"), Duration::ZERO);
        assert_eq!(d("1500ms").as_std(), std::time::Duration::from_millis(1500));
        assert_eq!(
            d("0.0000000001s").as_std(),
            std::time::Duration::from_nanos(1)
        );
        assert_eq!(
            Duration::from_std(std::time::Duration::from_millis(2500)),
            d("2.5s")
        );
    }

    #[test]
    fn bad_durations_say_why() {
        for s in [
            "", "s", "1", "1.s", ".5s", "1..5s", "1.5.5s", "-1s", "1 s", "1S", "1e3s",
        ] {
            assert_eq!(Duration::parse_exact(s), Err(DurationError::Syntax), "{s}");
        }
        assert_eq!(Duration::parse_exact("36501d"), Err(DurationError::TooLong));
        assert!(Duration::parse_exact("36500d").is_ok());
        assert_eq!(
            Duration::parse_exact("3153600000.5s"),
            Err(DurationError::TooLong)
        );
        assert_eq!(
            Duration::parse_exact("99999999999999999999999999999999999999999d"),
            Err(DurationError::TooManyDigits)
        );
        assert!(d("0.1s").cmp_seconds(0) == Ordering::Greater);
    }

    #[test]
    fn every_float_tyk_holds_in_range_round_trips() {
        for x in [
            0.3333,
            1.5,
            0.5,
            7.0,
            0.1 + 0.2,
            1e-9,
            5e-324,
            f64::MIN_POSITIVE,
            123456.789,
            3_153_600_000.0,
            1.0 / 3.0,
        ] {
            let dur = Duration::from_secs_f64(x).unwrap_or_else(|| panic!("{x}"));
            assert_eq!(dur.as_secs_f64().to_bits(), x.to_bits(), "{x}");
            // And through the text a manifest holds.
            assert_eq!(
                d(&dur.to_string()).as_secs_f64().to_bits(),
                x.to_bits(),
                "{x}"
            );
        }
        for x in [-1.0, f64::NAN, f64::INFINITY, 3_153_600_000.5, 1e300] {
            assert_eq!(Duration::from_secs_f64(x), None, "{x}");
        }
    }

    #[test]
    fn whole_floats_print_without_a_point() {
        assert_eq!(float_json(10.0), serde_json::json!(10));
        assert_eq!(float_json(-1.0), serde_json::json!(-1));
        assert_eq!(float_json(2.5), serde_json::json!(2.5));
        assert_eq!(KeyExpiry::After(d("30d")).as_tyk_seconds(), 2_592_000);
        assert_eq!(KeyExpiry::Never.as_tyk_seconds(), 0);
    }
}
