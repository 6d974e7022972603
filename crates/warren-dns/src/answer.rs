//! One query in, one decision out: answer from the record set, forward, or drop. Pure (no I/O),
//! so every case is tested without sockets.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::qname::{normalize, parse_reverse};
use crate::zone::Zone;

/// TTL of the records we answer with: containers come and go, so nobody should cache them.
pub(crate) const TTL: u32 = 0;
/// The UDP payload size we advertise in our own EDNS answers.
const EDNS_PAYLOAD: u16 = 1232;
/// The largest UDP reply without EDNS (RFC 1035).
const UDP_PLAIN: usize = 512;

/// Over which transport a query came, which bounds the size of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// What to do with one packet.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not ours: forward the packet as it is; the parsed query is kept to build an error reply.
    Forward(Box<Message>),
    /// Not a query (a stray response, garbage shorter than a header): ignore it.
    Drop,
}

/// Decide what to do with `packet`, a query from `client` received on a listener of
/// `network` (lower case).
pub(crate) fn respond(
    packet: &[u8],
    zone: &Zone,
    network: &str,
    client: IpAddr,
    transport: Transport,
) -> Outcome {
    let Ok(query) = Message::from_vec(packet) else {
        return header_only_error(packet, ResponseCode::FormErr)
            .map_or(Outcome::Drop, Outcome::Reply);
    };
    if query.message_type() == MessageType::Response {
        return Outcome::Drop;
    }
    if query.op_code() != OpCode::Query {
        return Outcome::Reply(encode(&reply(&query, ResponseCode::NotImp), usize::MAX));
    }
    let [question] = query.queries() else {
        return Outcome::Reply(encode(&reply(&query, ResponseCode::FormErr), usize::MAX));
    };
    if question.query_class() != DNSClass::IN {
        return Outcome::Forward(Box::new(query));
    }
    let asked = question.name().clone();
    let qname = normalize(&asked.to_ascii());
    let scope = zone.scope(network, client);
    let mut rdata: Vec<RData> = Vec::new();
    let reverse = match question.query_type() {
        RecordType::PTR => parse_reverse(&qname),
        _ => None,
    };
    if let Some(addr) = reverse {
        for name in zone.names_of(&scope, addr) {
            match Name::from_ascii(format!("{name}.")) {
                Ok(target) => rdata.push(RData::PTR(PTR(target))),
                Err(_) => continue,
            }
        }
        if rdata.is_empty() {
            return Outcome::Forward(Box::new(query));
        }
    } else {
        // A known name answers every type itself: the wanted family, or nothing (NODATA).
        let Some(addrs) = zone.addrs(&scope, &qname) else {
            return Outcome::Forward(Box::new(query));
        };
        let qtype = question.query_type();
        for addr in addrs {
            match addr {
                IpAddr::V4(v4) if matches!(qtype, RecordType::A | RecordType::ANY) => {
                    rdata.push(RData::A(A(v4)));
                }
                IpAddr::V6(v6) if matches!(qtype, RecordType::AAAA | RecordType::ANY) => {
                    rdata.push(RData::AAAA(AAAA(v6)));
                }
                _ => {}
            }
        }
    }
    let mut msg = reply(&query, ResponseCode::NoError);
    msg.set_authoritative(true);
    for data in rdata {
        msg.add_answer(Record::from_rdata(asked.clone(), TTL, data));
    }
    let limit = match transport {
        Transport::Udp => usize::from(query.max_payload()).max(UDP_PLAIN),
        Transport::Tcp => usize::from(u16::MAX),
    };
    Outcome::Reply(encode(&msg, limit))
}

/// SERVFAIL for a query we could not forward (no upstream answered).
pub(crate) fn servfail(query: &Message) -> Vec<u8> {
    encode(&reply(query, ResponseCode::ServFail), usize::MAX)
}

/// An empty, truncated reply: the client should retry over TCP (an upstream's UDP answer did
/// not fit our buffer).
pub(crate) fn truncated(query: &Message) -> Vec<u8> {
    let mut msg = reply(query, ResponseCode::NoError);
    msg.set_truncated(true);
    encode(&msg, usize::MAX)
}

/// A response to `query` with its ID, question, RD and CD bits, and EDNS if it had EDNS.
fn reply(query: &Message, code: ResponseCode) -> Message {
    let mut msg = Message::new();
    msg.set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(query.checking_disabled())
        .set_response_code(code);
    msg.add_queries(query.queries().iter().cloned());
    if query.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        msg.set_edns(edns);
    }
    msg
}

/// Encode `msg`; if it is longer than `limit`, send it truncated (no answers, TC set).
fn encode(msg: &Message, limit: usize) -> Vec<u8> {
    match msg.to_vec() {
        Ok(bytes) if bytes.len() <= limit => bytes,
        Ok(_) => {
            let mut cut = msg.clone();
            cut.take_answers();
            cut.set_truncated(true);
            cut.to_vec().unwrap_or_default()
        }
        // Nothing we build fails to encode; an empty reply is dropped by the sender.
        Err(_) => Vec::new(),
    }
}

/// A bare header with `code` for a query we cannot parse, when it is at least a header and
/// not itself a response.
fn header_only_error(packet: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return None;
    }
    let opcode_rd = packet[2] & 0x79;
    let rcode = u8::try_from(u16::from(code) & 0x0f).unwrap_or(1);
    let mut header = vec![0u8; 12];
    header[..2].copy_from_slice(&packet[..2]);
    header[2] = 0x80 | opcode_rd;
    header[3] = 0x80 | rcode;
    Some(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NameEntry;
    use hickory_proto::op::Query;

    fn zone() -> Zone {
        let entry = |name: &str, network: &str, addrs: &[&str]| NameEntry {
            name: name.into(),
            network: network.into(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        };
        Zone::new(&[
            entry("web", "front", &["10.89.0.2", "fd89::2"]),
            entry("www", "front", &["10.89.0.2"]),
            entry("v4only", "front", &["10.89.0.4"]),
            entry("db", "back", &["10.90.0.2"]),
        ])
    }

    fn query(name: &str, qtype: RecordType) -> Message {
        let mut m = Message::new();
        m.set_id(0xbeef).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m
    }

    fn ask(m: &Message, transport: Transport) -> Outcome {
        let client: IpAddr = "10.89.0.9".parse().unwrap();
        respond(&m.to_vec().unwrap(), &zone(), "front", client, transport)
    }

    fn answered(m: &Message) -> Message {
        match ask(m, Transport::Udp) {
            Outcome::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn rdata(m: &Message) -> Vec<String> {
        m.answers().iter().map(|r| r.data().to_string()).collect()
    }

    #[test]
    fn own_names_are_answered_with_the_asked_family() {
        let table: &[(&str, RecordType, &[&str])] = &[
            ("web", RecordType::A, &["10.89.0.2"]),
            ("WEB.", RecordType::A, &["10.89.0.2"]),
            ("web.front.", RecordType::AAAA, &["fd89::2"]),
            ("web", RecordType::ANY, &["10.89.0.2", "fd89::2"]),
            ("v4only", RecordType::AAAA, &[]),
            ("web", RecordType::MX, &[]),
            (
                "2.0.89.10.in-addr.arpa.",
                RecordType::PTR,
                &["web.", "www."],
            ),
        ];
        for (name, qtype, want) in table {
            let reply = answered(&query(name, *qtype));
            assert_eq!(reply.id(), 0xbeef);
            assert_eq!(reply.response_code(), ResponseCode::NoError, "{name}");
            assert!(reply.authoritative() && reply.recursion_desired());
            assert_eq!(rdata(&reply), *want, "{name} {qtype}");
            assert!(reply.answers().iter().all(|r| r.ttl() == TTL));
            // The answer's owner is the name as asked (case kept).
            let owner = format!("{}.", name.trim_end_matches('.'));
            assert!(
                reply.answers().iter().all(|r| r.name().to_ascii() == owner),
                "{name}"
            );
        }
    }

    #[test]
    fn everything_else_is_forwarded() {
        for (name, qtype) in [
            ("db", RecordType::A),
            ("example.com.", RecordType::A),
            ("2.0.90.10.in-addr.arpa.", RecordType::PTR),
            ("9.9.9.9.in-addr.arpa.", RecordType::PTR),
        ] {
            assert!(
                matches!(ask(&query(name, qtype), Transport::Udp), Outcome::Forward(q) if q.id() == 0xbeef),
                "{name}"
            );
        }
        let mut chaos = query("version.bind.", RecordType::TXT);
        chaos.queries_mut()[0].set_query_class(DNSClass::CH);
        assert!(matches!(ask(&chaos, Transport::Udp), Outcome::Forward(_)));
    }

    #[test]
    fn malformed_and_odd_packets() {
        let client: IpAddr = "10.89.0.9".parse().unwrap();
        let z = zone();
        // Too short to have a header: dropped.
        assert!(matches!(
            respond(&[1, 2, 3], &z, "front", client, Transport::Udp),
            Outcome::Drop
        ));
        // A header claiming a question that is not there: FORMERR with the ID.
        let bad = [0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff];
        let Outcome::Reply(r) = respond(&bad, &z, "front", client, Transport::Udp) else {
            panic!("FORMERR expected");
        };
        let r = Message::from_vec(&r).unwrap();
        assert_eq!((r.id(), r.response_code()), (0x1234, ResponseCode::FormErr));
        // A response is never answered.
        let mut resp = query("web", RecordType::A);
        resp.set_message_type(MessageType::Response);
        assert!(matches!(ask(&resp, Transport::Udp), Outcome::Drop));
        // Not a QUERY: NOTIMP.
        let mut update = query("web", RecordType::A);
        update.set_op_code(OpCode::Update);
        let Outcome::Reply(r) = ask(&update, Transport::Udp) else {
            panic!()
        };
        assert_eq!(
            Message::from_vec(&r).unwrap().response_code(),
            ResponseCode::NotImp
        );
        // No question: FORMERR.
        let mut empty = Message::new();
        empty.set_id(7);
        let Outcome::Reply(r) = ask(&empty, Transport::Udp) else {
            panic!()
        };
        assert_eq!(
            Message::from_vec(&r).unwrap().response_code(),
            ResponseCode::FormErr
        );
    }

    #[test]
    fn servfail_and_truncated_keep_the_id_and_question() {
        let q = query("example.com.", RecordType::A);
        let s = Message::from_vec(&servfail(&q)).unwrap();
        assert_eq!(
            (s.id(), s.response_code()),
            (0xbeef, ResponseCode::ServFail)
        );
        assert_eq!(s.queries(), q.queries());
        let t = Message::from_vec(&truncated(&q)).unwrap();
        assert!(t.truncated());
    }

    #[test]
    fn edns_is_echoed_and_big_udp_answers_are_truncated() {
        let names: Vec<NameEntry> = (0..60)
            .map(|i| NameEntry {
                name: "many".into(),
                network: "front".into(),
                addrs: vec![format!("fd89::{i:x}").parse().unwrap()],
            })
            .collect();
        let z = Zone::new(&names);
        let client: IpAddr = "10.89.0.9".parse().unwrap();
        let mut q = query("many", RecordType::AAAA);
        let run = |q: &Message, t| match respond(&q.to_vec().unwrap(), &z, "front", client, t) {
            Outcome::Reply(b) => Message::from_vec(&b).unwrap(),
            other => panic!("{other:?}"),
        };
        let plain = run(&q, Transport::Udp);
        assert!(plain.truncated() && plain.answers().is_empty());
        assert_eq!(run(&q, Transport::Tcp).answers().len(), 60);
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        q.set_edns(edns);
        let big = run(&q, Transport::Udp);
        assert!(!big.truncated() && big.answers().len() == 60 && big.extensions().is_some());
    }

    /// Random bytes and random mutations of real queries: never a panic, and every reply is a
    /// DNS message with the query's ID.
    #[test]
    fn random_packets_never_panic() {
        let z = zone();
        let client: IpAddr = "10.89.0.9".parse().unwrap();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let seeds: Vec<Vec<u8>> = [
            ("web", RecordType::A),
            ("2.0.89.10.in-addr.arpa.", RecordType::PTR),
            ("example.com.", RecordType::AAAA),
        ]
        .iter()
        .map(|(n, t)| query(n, *t).to_vec().unwrap())
        .collect();
        for round in 0..20_000 {
            let mut packet = if round % 4 == 0 {
                let len = usize::try_from(next() % 64).unwrap();
                (0..len).map(|_| next().to_le_bytes()[0]).collect()
            } else {
                seeds[round % seeds.len()].clone()
            };
            for _ in 0..(next() % 4) {
                if packet.is_empty() {
                    break;
                }
                let at = usize::try_from(next()).unwrap() % packet.len();
                match next() % 3 {
                    0 => packet[at] = next().to_le_bytes()[0],
                    1 => packet.truncate(at),
                    _ => packet.insert(at, next().to_le_bytes()[0]),
                }
            }
            for transport in [Transport::Udp, Transport::Tcp] {
                if let Outcome::Reply(r) = respond(&packet, &z, "front", client, transport) {
                    assert!(
                        r.len() >= 12 && r[..2] == packet[..2],
                        "{packet:?} -> {r:?}"
                    );
                }
            }
        }
    }
}
