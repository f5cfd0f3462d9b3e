//! Trigonometry and angles — `sin cos tan asin acos atan atan2 radians degrees pi` — enough for a haversine
//! distance. Arguments are numbers (integers widen), results floats; `asin`/`acos` outside [-1, 1] fail.

use super::number;
use crate::expr::scalar::{float, EvalError};
use weir_operators::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathFn {
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Radians,
    Degrees,
    Pi,
}

impl MathFn {
    /// The function of a (lower-case) name, and how many arguments it takes.
    pub fn of(name: &str) -> Option<(MathFn, usize)> {
        Some(match name {
            "sin" => (MathFn::Sin, 1),
            "cos" => (MathFn::Cos, 1),
            "tan" => (MathFn::Tan, 1),
            "asin" => (MathFn::Asin, 1),
            "acos" => (MathFn::Acos, 1),
            "atan" => (MathFn::Atan, 1),
            "atan2" => (MathFn::Atan2, 2),
            "radians" => (MathFn::Radians, 1),
            "degrees" => (MathFn::Degrees, 1),
            "pi" => (MathFn::Pi, 0),
            _ => return None,
        })
    }

    pub fn eval(self, args: &[&Value]) -> Result<Value, EvalError> {
        let x = args.first().map_or(0.0, |v| number(v));
        let inverse = |name: &str, f: fn(f64) -> f64| {
            if (-1.0..=1.0).contains(&x) {
                float(f(x))
            } else {
                Err(EvalError(format!("{name}({x}): the argument must be between -1 and 1")))
            }
        };
        match self {
            MathFn::Sin => float(x.sin()),
            MathFn::Cos => float(x.cos()),
            MathFn::Tan => float(x.tan()),
            MathFn::Asin => inverse("asin", f64::asin),
            MathFn::Acos => inverse("acos", f64::acos),
            MathFn::Atan => float(x.atan()),
            MathFn::Atan2 => float(x.atan2(number(args[1]))),
            MathFn::Radians => float(x.to_radians()),
            MathFn::Degrees => float(x.to_degrees()),
            MathFn::Pi => Ok(Value::Float(std::f64::consts::PI)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(m: MathFn, args: &[Value]) -> f64 {
        let refs: Vec<&Value> = args.iter().collect();
        match m.eval(&refs).unwrap() {
            Value::Float(x) => x,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trigonometry_and_angles() {
        assert!((f(MathFn::Sin, &[Value::Float(std::f64::consts::FRAC_PI_2)]) - 1.0).abs() < 1e-15);
        assert_eq!(f(MathFn::Cos, &[Value::Int(0)]), 1.0);
        assert!((f(MathFn::Tan, &[Value::Float(std::f64::consts::FRAC_PI_4)]) - 1.0).abs() < 1e-15);
        assert_eq!(f(MathFn::Radians, &[Value::Int(180)]), std::f64::consts::PI);
        assert_eq!(f(MathFn::Degrees, &[Value::Float(std::f64::consts::PI)]), 180.0);
        assert_eq!(f(MathFn::Pi, &[]), std::f64::consts::PI);
        assert_eq!(
            f(MathFn::Atan2, &[Value::Int(1), Value::Int(1)]),
            std::f64::consts::FRAC_PI_4
        );
        assert_eq!(f(MathFn::Asin, &[Value::Int(1)]), std::f64::consts::FRAC_PI_2);
    }

    #[test]
    fn inverse_functions_outside_their_domain_fail() {
        let two = Value::Int(2);
        let err = MathFn::Acos.eval(&[&two]).unwrap_err();
        assert!(err.0.contains("between -1 and 1"), "{err}");
    }

    #[test]
    fn a_haversine_distance_in_kilometres() {
        // Berlin (52.5200, 13.4050) to Munich (48.1351, 11.5820): 504 km.
        let (la1, lo1, la2, lo2) = (52.52f64, 13.405f64, 48.1351f64, 11.582f64);
        let r = |x: f64| f(MathFn::Radians, &[Value::Float(x)]);
        let s = |x: f64| f(MathFn::Sin, &[Value::Float(x)]);
        let c = |x: f64| f(MathFn::Cos, &[Value::Float(x)]);
        let a = s((r(la2) - r(la1)) / 2.0).powi(2) + c(r(la1)) * c(r(la2)) * s((r(lo2) - r(lo1)) / 2.0).powi(2);
        let km = 2.0 * 6371.0 * f(MathFn::Asin, &[Value::Float(a.sqrt())]);
        assert!((km - 504.0).abs() < 1.0, "{km}");
    }
}
