//! Just enough DER for the PKI: TLVs (single-byte tags, definite lengths), UTCTime and
//! GeneralizedTime, a certificate's validity and serial, and the subject Name as rcgen rebuilds
//! it. Reads only; every function returns `None` on anything it does not expect.

use rcgen::{DistinguishedName, DnType, DnValue};

pub const INTEGER: u8 = 0x02;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;
pub const PRINTABLE_STRING: u8 = 0x13;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// Reads one TLV (single-byte tags, definite lengths) and advances `input`.
pub fn read<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, after) = rest.split_at(n);
        rest = after;
        len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (value, after) = rest.split_at(len);
    *input = after;
    Some((tag, value))
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as unix ms.
pub fn time_ms(tag: u8, value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?;
    let s = s.strip_suffix('Z')?;
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match tag {
        UTC_TIME if s.len() == 12 => {
            let yy: i32 = s[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        GENERALIZED_TIME if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    let num = |i: usize| -> Option<u8> { rest.get(i..i + 2)?.parse().ok() };
    let month = time::Month::try_from(num(0)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, num(2)?).ok()?;
    let t = time::Time::from_hms(num(4)?, num(6)?, num(8)?).ok()?;
    let secs = time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp();
    u64::try_from(secs).ok()?.checked_mul(1000)
}

/// (notBefore, notAfter) of a certificate in unix milliseconds, read with a minimal DER walk.
pub(super) fn validity_of(cert_der: &[u8]) -> Option<(u64, u64)> {
    let mut input = cert_der;
    let (tag, cert) = read(&mut input)?;
    if tag != SEQUENCE || !input.is_empty() {
        return None;
    }
    let mut cert = cert;
    let (tag, tbs) = read(&mut cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut tbs = tbs;
    let (mut tag, _) = read(&mut tbs)?;
    if tag == 0xa0 {
        // [0] EXPLICIT version, then the serial
        tag = read(&mut tbs)?.0;
    }
    if tag != INTEGER {
        return None;
    }
    let _signature = read(&mut tbs)?;
    let _issuer = read(&mut tbs)?;
    let (tag, validity) = read(&mut tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut validity = validity;
    let not_before = read(&mut validity).and_then(|(t, v)| time_ms(t, v))?;
    let not_after = read(&mut validity).and_then(|(t, v)| time_ms(t, v))?;
    Some((not_before, not_after))
}

pub(super) fn serial_from_bytes(raw: &[u8]) -> Option<u64> {
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        return None; // negative
    }
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    let digits = &raw[start..];
    if digits.len() > 8 {
        return None;
    }
    Some(digits.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Rebuilds the rcgen `DistinguishedName` of a certificate's subject (the raw Name content, as
/// webpki returns it). Only what wgcluster writes: one CN or O per RDN, UTF8 or Printable.
pub(super) fn distinguished_name_of(subject: &[u8]) -> Option<DistinguishedName> {
    let mut dn = DistinguishedName::new();
    let mut input = subject;
    while !input.is_empty() {
        let (tag, mut set) = read(&mut input)?;
        if tag != SET {
            return None;
        }
        let (tag, mut atv) = read(&mut set)?;
        if tag != SEQUENCE || !set.is_empty() {
            return None;
        }
        let (tag, oid) = read(&mut atv)?;
        if tag != OID {
            return None;
        }
        let (vtag, value) = read(&mut atv)?;
        if !atv.is_empty() {
            return None;
        }
        let ty = match oid {
            [0x55, 0x04, 0x03] => DnType::CommonName,
            [0x55, 0x04, 0x0a] => DnType::OrganizationName,
            _ => return None,
        };
        let text = std::str::from_utf8(value).ok()?.to_string();
        let value = match vtag {
            UTF8_STRING => DnValue::Utf8String(text),
            PRINTABLE_STRING => DnValue::PrintableString(text.try_into().ok()?),
            _ => return None,
        };
        dn.push(ty, value);
    }
    Some(dn)
}
