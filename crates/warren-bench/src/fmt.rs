//! Small readers and formatters shared by the benchmark reports (`report`, `cni_report`,
//! `containers_report`, `labs_report`).

use serde_json::Value;

/// A number field of a JSON object.
pub fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

/// `a / b` when both are known and `b` is positive.
pub fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b)
}

/// Whether a contender's result is a measurement (neither an error nor a skip).
pub fn ok(r: &Value) -> bool {
    r.get("error").is_none() && r.get("skipped").is_none()
}

/// The first line a program prints on stdout (its version, for the report's header).
pub fn version(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    s.lines().next().map(|l| l.trim().to_owned())
}

/// Seconds: three decimals below 10 s, one above; `-` when unknown.
pub fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| {
        if s < 10.0 {
            format!("{s:.3} s")
        } else {
            format!("{s:.1} s")
        }
    })
}

/// Milliseconds with `decimals` decimals (whole microseconds below 1 ms); `-` when unknown.
pub fn ms_to(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |m| {
        if m < 1.0 {
            format!("{:.0} µs", m * 1e3)
        } else {
            format!("{m:.decimals$} ms")
        }
    })
}

/// Milliseconds with one decimal ([`ms_to`]).
pub fn ms(v: Option<f64>) -> String {
    ms_to(v, 1)
}

/// A ratio with `decimals` decimals and an `x`; `-` when unknown.
pub fn ratio_to(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |r| format!("{r:.decimals$}x"))
}

/// A ratio with one decimal ([`ratio_to`]).
pub fn ratio(v: Option<f64>) -> String {
    ratio_to(v, 1)
}

/// KiB as MiB with one decimal; `-` when unknown.
pub fn mib(kib: Option<f64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1} MiB", k / 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_precision() {
        assert_eq!(secs(Some(2.0271)), "2.027 s");
        assert_eq!(secs(Some(56.64)), "56.6 s");
        assert_eq!(ms(Some(27.74)), "27.7 ms");
        assert_eq!(ms_to(Some(27.744), 2), "27.74 ms");
        assert_eq!(ms(Some(0.062)), "62 µs");
        assert_eq!(ratio(Some(11.77)), "11.8x");
        assert_eq!(ratio_to(Some(11.774), 2), "11.77x");
        assert_eq!(mib(Some(5632.0)), "5.5 MiB");
        assert_eq!(secs(None), "-");
        assert_eq!(div(Some(1.0), Some(0.0)), None);
        assert_eq!(div(Some(3.0), Some(2.0)), Some(1.5));
    }
}
