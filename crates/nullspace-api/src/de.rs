//! How request bodies read optional fields and integers, as their JSON Schema
//! says: an optional field is absent or a value, never `null`; `15` and `15.0`
//! are the same integer, `15.5` is not one.

use serde::de::{Deserialize, Deserializer, Error, Visitor};

struct Integer;

impl Visitor<'_> for Integer {
    type Value = i128;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<i128, E> {
        // Exactly representable integers only (|v| < 2^53).
        if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
            Ok(v as i128)
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
        }
    }
}

fn integer<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
    let v = d.deserialize_any(Integer)?;
    T::try_from(v).map_err(|_| D::Error::custom(format!("integer {v} is out of range")))
}

/// An integer (`i64`, `u32`, `u64` …) written as a JSON integer or a float with
/// no fractional part.
pub fn int<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
    integer(d)
}

/// An optional field given a value (with `#[serde(default)]`, absent is `None`;
/// `null` is refused like any value of the wrong type).
pub fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// An optional [`int`]: absent is `None`, `null` is refused.
pub fn some_int<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    integer(d).map(Some)
}

/// `true`, for fields that default to it.
pub fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::some_int")]
        a: Option<u32>,
        #[serde(deserialize_with = "super::int")]
        b: i64,
        #[serde(default, deserialize_with = "super::some")]
        c: Option<String>,
    }

    #[test]
    fn integral_floats_are_integers() {
        let v: Body = serde_json::from_str(r#"{"a": 15.0, "b": -3}"#).unwrap();
        assert_eq!((v.a, v.b), (Some(15), -3));
        let v: Body = serde_json::from_str(r#"{"b": 7.0}"#).unwrap();
        assert_eq!(v.a, None);
        let v: Body = serde_json::from_str(r#"{"b": 1, "c": "x"}"#).unwrap();
        assert_eq!(v.c.as_deref(), Some("x"));
        for bad in [
            r#"{"b": 1.5}"#,
            r#"{"a": -1, "b": 1}"#,
            r#"{"b": "1"}"#,
            r#"{"a": 1e300, "b": 1}"#,
            r#"{"a": null, "b": 1}"#,
            r#"{"b": 1, "c": null}"#,
        ] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
    }
}
