//! The element files of a golden-vector directory (docs/golden-vectors.md): one element per line,
//! two's complement at the element's width, exactly `ceil(bits / 4)` hexadecimal digits, every line
//! ending in `\n`. `$readmemh` reads them as they are.
//!
//! [`encode`] writes them (lowercase digits); [`parse`] reads them back with a nom lexer and
//! reports the first problem with its line number: a character that is not a hexadecimal digit,
//! a wrong digit count, a value wider than the element, a wrong element count.

use std::fmt::Write as _;

use nom::bytes::complete::take_till;
use nom::character::complete::{char, hex_digit0};
use nom::combinator::opt;
use nom::{IResult, Parser};

/// Widest element a file may hold.
pub const MAX_BITS: u32 = 64;

/// Hexadecimal digits per element of `bits` bits.
pub fn digits(bits: u32) -> usize {
    bits.div_ceil(4) as usize
}

/// The value range of an element.
pub fn range(bits: u32, signed: bool) -> (i128, i128) {
    if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    }
}

/// The element type as written in messages and docs: `s9`, `u17`.
pub fn type_name(bits: u32, signed: bool) -> String {
    format!("{}{bits}", if signed { 's' } else { 'u' })
}

/// What the elements of one file are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub bits: u32,
    pub signed: bool,
}

impl Layout {
    /// The product of `shape` (`usize::MAX` if it overflows, which no file can hold).
    pub fn elements(&self) -> usize {
        self.shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .unwrap_or(usize::MAX)
    }
}

/// A value that does not fit its element type (a bug in whatever produced it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("element {index} = {value} does not fit {ty}")]
pub struct EncodeError {
    pub index: usize,
    pub value: i128,
    pub ty: String,
}

/// The file text of `data`: one element per line, two's complement at `bits`, lowercase.
pub fn encode(data: &[i128], bits: u32, signed: bool) -> Result<String, EncodeError> {
    assert!((1..=MAX_BITS).contains(&bits), "element width {bits}");
    let (lo, hi) = range(bits, signed);
    let width = digits(bits);
    let mask = (1u128 << bits) - 1;
    let mut s = String::with_capacity(data.len() * (width + 1));
    for (index, &value) in data.iter().enumerate() {
        if !(lo..=hi).contains(&value) {
            return Err(EncodeError {
                index,
                value,
                ty: type_name(bits, signed),
            });
        }
        let _ = writeln!(s, "{:0width$x}", (value as u128) & mask);
    }
    Ok(s)
}

/// The first problem found in a file, with its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    pub line: usize,
    pub problem: Problem,
}

/// What is wrong on a line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("bad digit {found} in column {column} (expected a hexadecimal digit 0-9, a-f)")]
    BadDigit { column: usize, found: String },
    #[error("{found} digits, expected {expected} for a {ty} element")]
    DigitCount {
        found: usize,
        expected: usize,
        ty: String,
    },
    #[error("value 0x{value:x} is out of range for a {ty} element (at most 0x{max:x})")]
    OutOfRange { value: u128, max: u128, ty: String },
    #[error("{found} elements, but the shape {shape:?} needs {expected}")]
    ElementCount {
        found: usize,
        expected: usize,
        shape: Vec<usize>,
    },
    #[error("the last line does not end with a newline")]
    MissingNewline,
}

/// One line as the lexer sees it: the leading run of hexadecimal digits, whatever follows it up to
/// the line end, and whether a `\n` ends it.
struct Line<'a> {
    digits: &'a [u8],
    rest: &'a [u8],
    newline: bool,
}

fn line(input: &[u8]) -> IResult<&[u8], Line<'_>> {
    let (input, (digits, rest, nl)) =
        (hex_digit0, take_till(|c: u8| c == b'\n'), opt(char('\n'))).parse(input)?;
    Ok((
        input,
        Line {
            digits,
            rest,
            newline: nl.is_some(),
        },
    ))
}

fn show_byte(b: u8) -> String {
    match b {
        b'\r' => "'\\r' (carriage return; lines must end in \\n alone)".into(),
        b' ' => "' ' (space)".into(),
        b'\t' => "'\\t' (tab)".into(),
        0x21..=0x7e => format!("'{}'", b as char),
        _ => format!("byte 0x{b:02x}"),
    }
}

/// Parses a file's bytes as `layout` says: exactly `layout.elements()` lines, each of
/// `digits(bits)` hexadecimal digits (either case) holding a value below `2^bits`, read as two's
/// complement when `signed`.
pub fn parse(text: &[u8], layout: &Layout) -> Result<Vec<i128>, ParseError> {
    let bits = layout.bits;
    assert!((1..=MAX_BITS).contains(&bits), "element width {bits}");
    let want_digits = digits(bits);
    let expected = layout.elements();
    let max = (1u128 << bits) - 1;
    let ty = || type_name(bits, layout.signed);
    // Every element takes `want_digits + 1` bytes: a shape that claims more than the text holds
    // fails below, without first reserving for it.
    let mut out = Vec::with_capacity(expected.min(text.len() / (want_digits + 1)));
    let mut input = text;
    let mut n = 0usize;
    while !input.is_empty() {
        n += 1;
        let fail = |problem| ParseError { line: n, problem };
        let (next, l) = line(input).map_err(|_| {
            // The lexer accepts any byte sequence; this cannot happen.
            fail(Problem::BadDigit {
                column: 1,
                found: "an unreadable line".into(),
            })
        })?;
        input = next;
        if let Some(&b) = l.rest.first() {
            return Err(fail(Problem::BadDigit {
                column: l.digits.len() + 1,
                found: show_byte(b),
            }));
        }
        if l.digits.len() != want_digits {
            return Err(fail(Problem::DigitCount {
                found: l.digits.len(),
                expected: want_digits,
                ty: ty(),
            }));
        }
        if !l.newline {
            return Err(fail(Problem::MissingNewline));
        }
        if n > expected {
            return Err(fail(Problem::ElementCount {
                found: text.split(|&b| b == b'\n').count() - 1,
                expected,
                shape: layout.shape.clone(),
            }));
        }
        let raw = l.digits.iter().fold(0u128, |v, &d| {
            (v << 4) | u128::from((d as char).to_digit(16).unwrap_or(0))
        });
        if raw > max {
            return Err(fail(Problem::OutOfRange {
                value: raw,
                max,
                ty: ty(),
            }));
        }
        let v = if layout.signed && raw >> (bits - 1) & 1 == 1 {
            raw as i128 - (1i128 << bits)
        } else {
            raw as i128
        };
        out.push(v);
    }
    if out.len() != expected {
        return Err(ParseError {
            line: n,
            problem: Problem::ElementCount {
                found: out.len(),
                expected,
                shape: layout.shape.clone(),
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lay(shape: &[usize], bits: u32, signed: bool) -> Layout {
        Layout {
            shape: shape.to_vec(),
            bits,
            signed,
        }
    }

    #[test]
    fn encodes_twos_complement_at_the_width() {
        assert_eq!(
            encode(&[-1, 0, 255, -256], 9, true).unwrap(),
            "1ff\n000\n0ff\n100\n"
        );
        assert_eq!(
            encode(&[0, 1, 0x1ffff], 17, false).unwrap(),
            "00000\n00001\n1ffff\n"
        );
        assert_eq!(encode(&[1, 0], 1, false).unwrap(), "1\n0\n");
        assert_eq!(
            encode(&[i128::from(i64::MIN), -1], 64, true).unwrap(),
            "8000000000000000\nffffffffffffffff\n"
        );
        assert_eq!(
            encode(&[i128::from(u64::MAX)], 64, false).unwrap(),
            "ffffffffffffffff\n"
        );
        let e = encode(&[3, 256], 9, true).unwrap_err();
        assert_eq!((e.index, e.value), (1, 256));
        assert!(encode(&[-1], 8, false).is_err());
    }

    #[test]
    fn parse_round_trips_every_width() {
        for bits in 1..=64u32 {
            for signed in [false, true] {
                let (lo, hi) = range(bits, signed);
                let data = vec![lo, hi, lo / 2 + hi / 2, 0, hi.min(1)];
                let text = encode(&data, bits, signed).unwrap();
                let back = parse(text.as_bytes(), &lay(&[5], bits, signed)).unwrap();
                assert_eq!(back, data, "{bits} {signed}");
            }
        }
        // Uppercase digits are valid $readmemh and read the same.
        assert_eq!(
            parse(b"1FF\n0aB\n", &lay(&[2], 9, true)).unwrap(),
            vec![-1, 0xab]
        );
        assert_eq!(
            parse(b"", &lay(&[0], 8, false)).unwrap(),
            Vec::<i128>::new()
        );
    }

    fn problem(text: &[u8], l: &Layout) -> (usize, Problem) {
        let e = parse(text, l).unwrap_err();
        (e.line, e.problem)
    }

    #[test]
    fn each_problem_is_reported_with_its_line() {
        let l = lay(&[3], 8, false);
        let (n, p) = problem(b"00\n0g\n11\n", &l);
        assert_eq!(n, 2);
        assert!(matches!(p, Problem::BadDigit { column: 2, ref found } if found == "'g'"));
        let (n, p) = problem(b"00\r\n01\n02\n", &l);
        assert_eq!(n, 1);
        assert!(p.to_string().contains("carriage return"), "{p}");
        let (n, p) = problem(b"00\n001\n02\n", &l);
        assert_eq!(n, 2);
        assert!(matches!(
            p,
            Problem::DigitCount {
                found: 3,
                expected: 2,
                ..
            }
        ));
        let (n, p) = problem(b"00\n\n02\n", &l);
        assert_eq!(n, 2);
        assert!(matches!(p, Problem::DigitCount { found: 0, .. }));
        let (n, p) = problem(b"00\n01\n02", &l);
        assert_eq!((n, p), (3, Problem::MissingNewline));
        let (n, p) = problem(b"00\n01\n", &l);
        assert_eq!(n, 2);
        assert!(matches!(
            p,
            Problem::ElementCount {
                found: 2,
                expected: 3,
                ..
            }
        ));
        let (n, p) = problem(b"00\n01\n02\n03\n04\n", &l);
        assert_eq!(n, 4);
        assert!(matches!(
            p,
            Problem::ElementCount {
                found: 5,
                expected: 3,
                ..
            }
        ));
        // 9 bits in 3 digits: 0x200 and above do not fit.
        let (n, p) = problem(b"1ff\n200\n", &lay(&[2], 9, true));
        assert_eq!(n, 2);
        assert!(matches!(
            p,
            Problem::OutOfRange {
                value: 0x200,
                max: 0x1ff,
                ..
            }
        ));
        let (n, p) = problem(b"00\n\xff1\n", &l);
        assert_eq!(n, 2);
        assert!(p.to_string().contains("byte 0xff"), "{p}");
    }
}
