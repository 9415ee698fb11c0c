//! DNS messages on the wire (RFC 1035 §4, RFC 2136 §2 for UPDATE): just what the RFC 2136
//! provider sends and reads. Encodes without name compression (always valid); decodes any
//! well-formed message, following compression pointers (backwards only, bounded), and keeps the
//! RDATA of every record as raw bytes except A/AAAA (length checked) and a final TSIG record
//! (RFC 8945 §4.2, parsed into [`Tsig`], see `tsig.rs`).
//!
//! Names are kept in lowercase uncompressed wire form, which is also their canonical form (RFC 4034
//! §6.2) as TSIG needs it; DNS compares names without regard to ASCII case.
//!
//! Must not: panic on any input (fuzzed: `fuzz_dns_message`); read past the buffer; loop on
//! pointers.

use std::fmt;
use std::net::IpAddr;

pub const TYPE_A: u16 = 1;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_TSIG: u16 = 250;
pub const CLASS_IN: u16 = 1;
/// RFC 2136 §2.5.4: in the update section, "delete this exact RR".
pub const CLASS_NONE: u16 = 254;
pub const CLASS_ANY: u16 = 255;
pub const OPCODE_QUERY: u8 = 0;
pub const OPCODE_UPDATE: u8 = 5;

/// Response codes (RFC 1035 §4.1.1, RFC 2136 §2.2) that the provider tells apart.
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_REFUSED: u8 = 5;
pub const RCODE_NOTAUTH: u8 = 9;
pub const RCODE_NOTZONE: u8 = 10;

const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the message ends inside {0}")]
    Short(&'static str),
    #[error("a name is longer than 255 bytes")]
    NameTooLong,
    #[error("a label type {0:#04x} that DNS does not define")]
    BadLabel(u8),
    #[error("a compression pointer that does not point backwards")]
    BadPointer,
    #[error("a {0} record with {1} bytes of data")]
    BadRdata(&'static str, usize),
    #[error("a TSIG record that is not the last record of the message")]
    TsigNotLast,
    #[error("{0} bytes after the last record")]
    Trailing(usize),
    #[error("the message is larger than 64 KiB")]
    TooLarge,
}

/// A domain name: lowercase, uncompressed wire form ending in the root label.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(Vec<u8>);

impl Name {
    /// A name from text (`vpn.example.test`, with or without the final dot). Labels of letters,
    /// digits, `-` and `_`, 1–63 bytes each, 255 bytes in all; the root alone is refused (no
    /// provider name is the root). The error says what is wrong, for the setting's message.
    pub fn parse(text: &str) -> Result<Name, String> {
        let t = text.strip_suffix('.').unwrap_or(text);
        if t.is_empty() {
            return Err("it is empty".into());
        }
        let mut wire = Vec::with_capacity(t.len() + 2);
        for label in t.split('.') {
            if label.is_empty() {
                return Err("it has an empty label (`..`)".into());
            }
            if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
                return Err(format!("it contains '{}' (letters, digits, '-' and '_' only)", c.escape_debug()));
            }
            if label.len() > MAX_LABEL {
                return Err(format!("the label '{}…' is longer than 63 bytes", &label[..16]));
            }
            wire.push(label.len() as u8);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
        wire.push(0);
        if wire.len() > MAX_NAME {
            return Err("it is longer than 255 bytes".into());
        }
        Ok(Name(wire))
    }

    pub fn wire(&self) -> &[u8] {
        &self.0
    }

    /// Offsets of every label start (the name itself, then each parent, not the root).
    fn label_starts(&self) -> impl Iterator<Item = usize> + '_ {
        let mut i = 0;
        std::iter::from_fn(move || {
            let len = *self.0.get(i)? as usize;
            if len == 0 {
                return None;
            }
            let at = i;
            i += 1 + len;
            Some(at)
        })
    }

    /// `name` is this name or below it.
    pub fn contains(&self, name: &Name) -> bool {
        name.0 == self.0 || name.label_starts().any(|i| name.0[i..] == self.0[..])
    }
}

impl fmt::Display for Name {
    /// Text form without the final dot; bytes other than letters, digits, `-`, `_` as `\DDD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for i in self.label_starts() {
            if !first {
                f.write_str(".")?;
            }
            first = false;
            for &b in &self.0[i + 1..i + 1 + self.0[i] as usize] {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
        }
        if first {
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// A question (in an UPDATE: the zone section, RFC 2136 §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub class: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// Raw RDATA; names inside it (other types than A/AAAA) may be compression pointers into the
    /// message they came from.
    pub rdata: Vec<u8>,
}

impl Record {
    /// An A or AAAA record for `ip`.
    pub fn address(name: Name, class: u16, ttl: u32, ip: IpAddr) -> Record {
        let (rtype, rdata) = match ip {
            IpAddr::V4(v4) => (TYPE_A, v4.octets().to_vec()),
            IpAddr::V6(v6) => (TYPE_AAAA, v6.octets().to_vec()),
        };
        Record { name, rtype, class, ttl, rdata }
    }

    /// The address of an A/AAAA record (their RDATA length is checked when decoding).
    pub fn ip(&self) -> Option<IpAddr> {
        match (self.rtype, self.rdata.len()) {
            (TYPE_A, 4) => Some(IpAddr::from(<[u8; 4]>::try_from(&self.rdata[..]).ok()?)),
            (TYPE_AAAA, 16) => Some(IpAddr::from(<[u8; 16]>::try_from(&self.rdata[..]).ok()?)),
            _ => None,
        }
    }
}

/// The TSIG record (RFC 8945 §4.2): owner name = key name, class ANY, TTL 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tsig {
    pub key: Name,
    pub algorithm: Name,
    /// Seconds since the epoch (48 bits on the wire).
    pub time: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    /// Extended error (16 BADSIG, 17 BADKEY, 18 BADTIME, 22 BADTRUNC).
    pub error: u16,
    pub other: Vec<u8>,
}

/// A DNS message. For an UPDATE the sections are zone, prerequisite, update and additional
/// (RFC 2136 §2); a TSIG record, always the last one, is kept apart in `tsig`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub id: u16,
    /// Header bits 15–0: QR, opcode (4), AA, TC, RD, RA, Z (3), rcode (4).
    pub flags: u16,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    pub tsig: Option<Tsig>,
}

impl Message {
    /// A request (QR = 0, RD = 0) with `opcode`.
    pub fn request(id: u16, opcode: u8) -> Message {
        Message { id, flags: u16::from(opcode & 0xf) << 11, ..Message::default() }
    }

    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }

    /// The wire form (no compression), the TSIG record last when there is one.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(512);
        self.encode_unsigned(&mut out)?;
        if let Some(t) = &self.tsig {
            set_count(&mut out, 10, self.additional.len() + 1)?;
            put_tsig(&mut out, t);
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(WireError::TooLarge);
        }
        Ok(out)
    }

    /// Header and sections without the TSIG record (what a TSIG MAC covers).
    pub(crate) fn encode_unsigned(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for n in [self.questions.len(), self.answers.len(), self.authority.len(), self.additional.len()] {
            out.extend_from_slice(&u16::try_from(n).map_err(|_| WireError::TooLarge)?.to_be_bytes());
        }
        for q in &self.questions {
            out.extend_from_slice(q.name.wire());
            out.extend_from_slice(&q.qtype.to_be_bytes());
            out.extend_from_slice(&q.class.to_be_bytes());
        }
        for r in self.answers.iter().chain(&self.authority).chain(&self.additional) {
            out.extend_from_slice(r.name.wire());
            out.extend_from_slice(&r.rtype.to_be_bytes());
            out.extend_from_slice(&r.class.to_be_bytes());
            out.extend_from_slice(&r.ttl.to_be_bytes());
            out.extend_from_slice(&u16::try_from(r.rdata.len()).map_err(|_| WireError::TooLarge)?.to_be_bytes());
            out.extend_from_slice(&r.rdata);
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(WireError::TooLarge);
        }
        Ok(())
    }

    pub fn decode(buf: &[u8]) -> Result<Message, WireError> {
        Ok(Message::decode_parts(buf)?.0)
    }

    /// The message and where its TSIG record starts (`buf.len()` without one).
    pub(crate) fn decode_parts(buf: &[u8]) -> Result<(Message, usize), WireError> {
        let mut r = Reader { buf, at: 0 };
        let id = r.u16("the header")?;
        let flags = r.u16("the header")?;
        let counts = [r.u16("the header")?, r.u16("the header")?, r.u16("the header")?, r.u16("the header")?];
        let mut m = Message { id, flags, ..Message::default() };
        for _ in 0..counts[0] {
            let name = r.name()?;
            m.questions.push(Question { name, qtype: r.u16("a question")?, class: r.u16("a question")? });
        }
        let mut tsig_at = buf.len();
        let records = usize::from(counts[1]) + usize::from(counts[2]) + usize::from(counts[3]);
        for i in 0..records {
            let start = r.at;
            let name = r.name()?;
            let (rtype, class, ttl) = (r.u16("a record")?, r.u16("a record")?, r.u32("a record")?);
            let len = usize::from(r.u16("a record")?);
            let rdata_at = r.at;
            let rdata = r.take(len, "a record's data")?;
            let rec = Record { name, rtype, class, ttl, rdata: rdata.to_vec() };
            if rtype == TYPE_TSIG {
                if i + 1 != records || counts[3] == 0 {
                    return Err(WireError::TsigNotLast);
                }
                tsig_at = start;
                m.tsig = Some(tsig_rdata(rec.name, buf, rdata_at, len)?);
                continue;
            }
            match (rtype, len) {
                (TYPE_A, 4) | (TYPE_AAAA, 16) => {}
                (TYPE_A, n) if class != CLASS_ANY || n != 0 => return Err(WireError::BadRdata("A", n)),
                (TYPE_AAAA, n) if class != CLASS_ANY || n != 0 => return Err(WireError::BadRdata("AAAA", n)),
                _ => {}
            }
            if i < usize::from(counts[1]) {
                m.answers.push(rec);
            } else if i < usize::from(counts[1]) + usize::from(counts[2]) {
                m.authority.push(rec);
            } else {
                m.additional.push(rec);
            }
        }
        if r.at != buf.len() {
            return Err(WireError::Trailing(buf.len() - r.at));
        }
        Ok((m, tsig_at))
    }
}

/// Overwrites the 16-bit count at header offset `at`.
pub(crate) fn set_count(out: &mut [u8], at: usize, n: usize) -> Result<(), WireError> {
    let n = u16::try_from(n).map_err(|_| WireError::TooLarge)?;
    out[at..at + 2].copy_from_slice(&n.to_be_bytes());
    Ok(())
}

fn put_tsig(out: &mut Vec<u8>, t: &Tsig) {
    out.extend_from_slice(t.key.wire());
    out.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    out.extend_from_slice(&CLASS_ANY.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = t.algorithm.wire().len() + 16 + t.mac.len() + t.other.len();
    out.extend_from_slice(&(rdlen as u16).to_be_bytes());
    out.extend_from_slice(t.algorithm.wire());
    out.extend_from_slice(&t.time.to_be_bytes()[2..]);
    out.extend_from_slice(&t.fudge.to_be_bytes());
    out.extend_from_slice(&(t.mac.len() as u16).to_be_bytes());
    out.extend_from_slice(&t.mac);
    out.extend_from_slice(&t.original_id.to_be_bytes());
    out.extend_from_slice(&t.error.to_be_bytes());
    out.extend_from_slice(&(t.other.len() as u16).to_be_bytes());
    out.extend_from_slice(&t.other);
}

/// The TSIG RDATA at `buf[at..at + len]` (its algorithm name is never compressed, RFC 8945 §4.2,
/// but a pointer is followed like anywhere else).
fn tsig_rdata(key: Name, buf: &[u8], at: usize, len: usize) -> Result<Tsig, WireError> {
    let mut r = Reader { buf: &buf[..at + len], at };
    let algorithm = r.name()?;
    let hi = u64::from(r.u16("the TSIG record")?);
    let time = hi << 32 | u64::from(r.u32("the TSIG record")?);
    let fudge = r.u16("the TSIG record")?;
    let mac_len = usize::from(r.u16("the TSIG record")?);
    let mac = r.take(mac_len, "the TSIG MAC")?.to_vec();
    let original_id = r.u16("the TSIG record")?;
    let error = r.u16("the TSIG record")?;
    let other_len = usize::from(r.u16("the TSIG record")?);
    let other = r.take(other_len, "the TSIG other data")?.to_vec();
    if r.at != at + len {
        return Err(WireError::BadRdata("TSIG", len));
    }
    Ok(Tsig { key, algorithm, time, fudge, mac, original_id, error, other })
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(WireError::Short(what))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A name at the cursor. A compression pointer must point before itself, so a run of pointers
    /// ends; a cycle through labels adds a label each round and ends at the 255-byte limit.
    fn name(&mut self) -> Result<Name, WireError> {
        let mut wire = Vec::with_capacity(32);
        let mut pos = self.at;
        let mut jumped = false;
        loop {
            let len = *self.buf.get(pos).ok_or(WireError::Short("a name"))?;
            match len & 0xc0 {
                0x00 => {
                    let label = self.buf.get(pos + 1..pos + 1 + usize::from(len)).ok_or(WireError::Short("a name"))?;
                    wire.push(len);
                    wire.extend(label.iter().map(u8::to_ascii_lowercase));
                    if wire.len() > MAX_NAME {
                        return Err(WireError::NameTooLong);
                    }
                    pos += 1 + usize::from(len);
                    if len == 0 {
                        break;
                    }
                }
                0xc0 => {
                    let lo = *self.buf.get(pos + 1).ok_or(WireError::Short("a name"))?;
                    let target = usize::from(len & 0x3f) << 8 | usize::from(lo);
                    if target >= pos {
                        return Err(WireError::BadPointer);
                    }
                    if !jumped {
                        self.at = pos + 2;
                        jumped = true;
                    }
                    pos = target;
                }
                _ => return Err(WireError::BadLabel(len)),
            }
        }
        if !jumped {
            self.at = pos;
        }
        Ok(Name(wire))
    }
}

#[cfg(test)]
mod tests;
