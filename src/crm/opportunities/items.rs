//! Line items of an opportunity and the totals computed from them. Money is
//! integer minor units; quantities keep three decimals and discounts two,
//! both as integers (thousandths, basis points) so sums are exact.

use serde_json::{Map, Value, json};

use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::records::{Record, limited};

/// A number with at most `decimals` decimals as an integer scaled by
/// 10^decimals ("2.5" with 3 decimals is 2500).
pub fn scaled(field: &str, v: &Value, decimals: u32) -> Result<i64, AppError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err(AppError::invalid(field, "must be a number")),
    };
    let bad = || {
        AppError::invalid(
            field,
            format!("`{text}` is not a number with at most {decimals} decimals"),
        )
    };
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > decimals as usize
        || int.len() > 12
    {
        return Err(bad());
    }
    let scale = 10_i64.pow(decimals);
    let whole: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_val: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().map_err(|_| bad())? * 10_i64.pow(decimals - frac.len() as u32)
    };
    let n = whole * scale + frac_val;
    Ok(if neg { -n } else { n })
}

/// `n` scaled by 10^decimals as a JSON number (2500 with 3 decimals is 2.5).
fn unscaled(n: i64, decimals: u32) -> Value {
    let scale = 10_i64.pow(decimals);
    if n % scale == 0 {
        Value::from(n / scale)
    } else {
        Value::from(n as f64 / scale as f64)
    }
}

/// `a * b / d`, rounded half away from zero, in 128 bits.
fn mul_div(a: i128, b: i128, d: i128) -> i128 {
    let p = a * b;
    let q = p / d;
    let r = p % d;
    if r.abs() * 2 >= d { q + p.signum() } else { q }
}

/// One line's subtotal in minor units: quantity (thousandths) × unit price
/// × (1 − discount (basis points)).
pub fn subtotal(quantity_milli: i64, unit_price: i64, discount_bp: i64) -> Result<i64, AppError> {
    let gross = mul_div(i128::from(quantity_milli), i128::from(unit_price), 1000);
    let net = mul_div(gross, i128::from(10_000 - discount_bp), 10_000);
    i64::try_from(net).map_err(|_| AppError::invalid("items", "the amount is too large"))
}

fn discount(field: &str, v: Option<&Value>) -> Result<i64, AppError> {
    let bp = match v {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) if s.trim().is_empty() => 0,
        Some(v) => scaled(field, v, 2)?,
    };
    if !(0..=10_000).contains(&bp) {
        return Err(AppError::invalid(
            field,
            "a discount is between 0 and 100 (%)",
        ));
    }
    Ok(bp)
}

/// Check the line items and the order discount, and compute each
/// subtotal and the amount. Without items the amount is the one given
/// (not negative).
pub fn apply(conn: &mut DbConn, r: &mut Record, before: Option<&Record>) -> Result<(), AppError> {
    let order_bp = discount("discount", r.get("discount"))?;
    r.insert(
        "discount".into(),
        Value::from(if order_bp == 0 {
            String::new()
        } else {
            unscaled(order_bp, 2).to_string()
        }),
    );
    let Some(Value::Array(list)) = r.get("items").cloned() else {
        return Err(AppError::invalid("items", "a list of line items"));
    };
    if list.len() > 200 {
        return Err(AppError::invalid("items", "at most 200 line items"));
    }
    let known_products: Vec<i64> = before
        .and_then(|b| b.get("items"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("product_id").and_then(Value::as_i64))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(list.len());
    let mut sum: i64 = 0;
    for (n, item) in list.iter().enumerate() {
        let f = |k: &str| format!("items[{n}].{k}");
        let Some(obj) = item.as_object() else {
            return Err(AppError::invalid(
                &format!("items[{n}]"),
                "a line item object",
            ));
        };
        for k in obj.keys() {
            if ![
                "product_id",
                "name",
                "unit",
                "quantity",
                "unit_price",
                "discount",
                "subtotal",
            ]
            .contains(&k.as_str())
            {
                return Err(AppError::invalid(&f(k), format!("unknown field `{k}`")));
            }
        }
        let product = match obj.get("product_id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| AppError::invalid(&f("product_id"), "a product id"))?,
            ),
        };
        let text = |k: &str, max: usize| -> Result<String, AppError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => limited(&f(k), s, max),
                Some(_) => Err(AppError::invalid(&f(k), "must be text")),
            }
        };
        let mut name = text("name", 200)?;
        let mut unit = text("unit", 20)?;
        let mut price: Option<i64> = match obj.get("unit_price") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                AppError::invalid(&f("unit_price"), "whole minor units (fen, cents)")
            })?),
        };
        if let Some(pid) = product {
            let Some((pname, punit, plist, active)) =
                crate::crm::products::for_line_item(conn, pid)?
            else {
                return Err(AppError::invalid(
                    &f("product_id"),
                    format!("product {pid} does not exist"),
                ));
            };
            if !active && !known_products.contains(&pid) {
                return Err(AppError::invalid(
                    &f("product_id"),
                    format!("product \"{pname}\" is no longer sold"),
                ));
            }
            if name.is_empty() {
                name = pname;
            }
            if unit.is_empty() {
                unit = punit;
            }
            if price.is_none() {
                price = plist;
            }
        }
        if name.is_empty() {
            return Err(AppError::invalid(
                &f("name"),
                "name the product or choose one",
            ));
        }
        let price = price.ok_or_else(|| AppError::invalid(&f("unit_price"), "is required"))?;
        if price < 0 {
            return Err(AppError::invalid(
                &f("unit_price"),
                "a price cannot be negative",
            ));
        }
        let qty = scaled(
            &f("quantity"),
            obj.get("quantity").unwrap_or(&Value::from(1)),
            3,
        )?;
        if qty <= 0 {
            return Err(AppError::invalid(
                &f("quantity"),
                "a quantity is more than 0",
            ));
        }
        let bp = discount(&f("discount"), obj.get("discount"))?;
        let sub = subtotal(qty, price, bp)?;
        sum = sum
            .checked_add(sub)
            .ok_or_else(|| AppError::invalid("items", "the amount is too large"))?;
        let mut o = Map::new();
        o.insert("product_id".into(), json!(product));
        o.insert("name".into(), Value::from(name));
        o.insert("unit".into(), Value::from(unit));
        o.insert("quantity".into(), unscaled(qty, 3));
        o.insert("unit_price".into(), Value::from(price));
        o.insert("discount".into(), unscaled(bp, 2));
        o.insert("subtotal".into(), Value::from(sub));
        out.push(Value::Object(o));
    }
    if out.is_empty() {
        if r.get("amount")
            .and_then(Value::as_i64)
            .is_some_and(|a| a < 0)
        {
            return Err(AppError::invalid("amount", "an amount cannot be negative"));
        }
    } else {
        let total = mul_div(i128::from(sum), i128::from(10_000 - order_bp), 10_000);
        let total = i64::try_from(total)
            .map_err(|_| AppError::invalid("items", "the amount is too large"))?;
        r.insert("amount".into(), Value::from(total));
    }
    r.insert("items".into(), Value::Array(out));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(scaled("q", &json!(2.5), 3).unwrap(), 2500);
        assert_eq!(scaled("q", &json!("0.125"), 3).unwrap(), 125);
        assert_eq!(scaled("q", &json!(3), 3).unwrap(), 3000);
        assert_eq!(scaled("d", &json!("12.5"), 2).unwrap(), 1250);
        assert!(scaled("q", &json!("1.2345"), 3).is_err());
        assert!(scaled("q", &json!("abc"), 3).is_err());
        assert!(scaled("q", &json!(""), 3).is_err());
        assert_eq!(scaled("q", &json!("-1"), 3).unwrap(), -1000);
    }

    #[test]
    fn subtotals_round_half_up() {
        // 3 × 19.99 with 10 % off = 53.973 → 53.97
        assert_eq!(subtotal(3000, 1999, 1000).unwrap(), 5397);
        // 0.5 × 0.01 = 0.005 → 0.01
        assert_eq!(subtotal(500, 1, 0).unwrap(), 1);
        assert_eq!(subtotal(1000, 10_000, 10_000).unwrap(), 0);
        assert_eq!(unscaled(2500, 3), json!(2.5));
        assert_eq!(unscaled(2000, 3), json!(2));
    }
}
